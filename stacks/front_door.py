"""The jurisdiction's front door on an AWS stack: the region's public entry and the hostname's records.

Ownership: the public hosted zone is global and shared by every jurisdiction's hostname, so no stack owns it (it
is a precondition named by ``frontDoor.zone``): a zone in the EU stack would put the UAE's records under the EU
stack's lifecycle (a ``pulumi destroy`` of Frankfurt would take Dubai's name with it) and tag them EU. The records
and health checks of a jurisdiction's hostname belong to that jurisdiction's AWS stack, next to the entry they
point at. README, "The front door".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.aws_gpu_cluster import AwsGpuInferenceCluster
from components.aws_load_balancer_controller import AwsLoadBalancerController
from components.backend_certificate import BackendCertificate, BackendCertificateArgs
from components.front_door_args import ClaimRule
from components.front_door_entry import FrontDoorEntry, FrontDoorEntryArgs, front_door_namespace
from components.front_door_gateway import FrontDoorGateway, FrontDoorGatewayArgs, RoutedModel, SourceRange
from components.helm_chart import HelmChart
from components.inference_service import InferenceService, pod_selector
from components.model_scaling import Scraper
from components.network import RegionalNetwork
from components.public_dns import HealthCheckSpec, JurisdictionDns, JurisdictionDnsArgs, RegionEntry, SiteEntry
from residency import residency_labels
from residency.front_door import NLB_ALIAS_ZONES
from stackconfig import AwsStackConfig
from stackconfig.errors import ConfigError, Problem
from stackconfig.front_door import GatewayConfig, HealthCheckConfig
from stackconfig.onprem_front_door import FRONT_DOOR_NAMESPACE
from stackconfig.types import PROJECT
from stacks.aws_metrics import ClusterScaling

NAMESPACE = FRONT_DOOR_NAMESPACE
GATEWAY_NAME = "front-door"
# Envoy Gateway labels the proxy pods of a Gateway with its name and namespace, and its unprivileged proxies serve a
# listener on port 443 at container port 10443 (envoyproxy/gateway#6388: "envoy actually listening on 10443").
# A Service selects pods of its own namespace only: the gateway must run Envoy Gateway's Gateway Namespace Mode
# (proxies in the Gateway's namespace; Envoy Gateway docs, "Gateway Namespace Mode") for this selector to match.
GATEWAY_SELECTOR = {
    "gateway.envoyproxy.io/owning-gateway-name": GATEWAY_NAME,
    "gateway.envoyproxy.io/owning-gateway-namespace": NAMESPACE,
}
GATEWAY_PORT = 10443
BACKEND_TLS_SECRET = "front-door-backend-tls"
"""Base name of the generated NLB-to-proxy certificate's Secret (the certificate's hash is appended)."""


def check_front_door(config: AwsStackConfig) -> None:
    """What the stack needs from AWS's facts before registering anything: an NLB alias zone for the region."""
    if config.front_door is not None and config.aws_region not in NLB_ALIAS_ZONES:
        raise ConfigError(
            [
                Problem(
                    f"{PROJECT}:frontDoor",
                    f"no NLB alias zone known for {config.aws_region}; known: {', '.join(sorted(NLB_ALIAS_ZONES))}",
                )
            ]
        )


def _health(check: HealthCheckConfig) -> HealthCheckSpec:
    return HealthCheckSpec(
        type=check.type,
        port=check.port,
        path=check.path,
        request_interval=check.request_interval,
        failure_threshold=check.failure_threshold,
    )


def gateway_args(
    gateway: GatewayConfig,
    models: Sequence[tuple[str, str, bool]],
    *,
    entry_sources: Sequence[SourceRange],
    certificate_secret: pulumi.Input[str],
    certificate_namespace: str | None,
    scraper: Scraper,
    scrape_interval: str,
    monitoring_depends_on: Sequence[pulumi.Resource],
    provider: pulumi.ProviderResource,
    labels: Mapping[str, str],
    depends_on: Sequence[pulumi.Resource],
    protect_crds: bool = False,
) -> FrontDoorGatewayArgs:
    """The gateway's Args from its config, the same on every site; ``models`` are (name, namespace, restricted),
    routed in order."""
    chart = gateway.chart
    access = gateway.jwt.restricted_access
    return FrontDoorGatewayArgs(
        namespace=NAMESPACE,
        gateway_name=GATEWAY_NAME,
        proxy_selector=GATEWAY_SELECTOR,
        proxy_port=GATEWAY_PORT,
        entry_sources=entry_sources,
        chart=HelmChart(chart.repository, chart.chart, chart.version),
        models=[RoutedModel(name, ns, name, pod_selector(name), restricted) for name, ns, restricted in models],
        restricted_access=ClaimRule(access.claim, list(access.values), access.value_type) if access else None,
        jwt_issuer=gateway.jwt.issuer,
        jwks_uri=gateway.jwt.jwks_uri,
        jwt_audiences=list(gateway.jwt.audiences),
        rate_limit_requests=gateway.rate_limit.requests,
        rate_limit_unit=gateway.rate_limit.unit,
        listener_certificate_secret=certificate_secret,
        listener_certificate_namespace=certificate_namespace,
        scraper=scraper,
        scrape_interval=scrape_interval,
        monitoring_depends_on=monitoring_depends_on,
        replicas=gateway.replicas,
        kubernetes_provider=provider,
        labels=labels,
        depends_on=depends_on,
        protect_crds=protect_crds,
    )


def build_front_door(
    config: AwsStackConfig,
    network: RegionalNetwork,
    cluster: AwsGpuInferenceCluster,
    controller: AwsLoadBalancerController,
    services: Mapping[str, InferenceService],
    scaling: ClusterScaling,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> dict[str, Any]:
    door = config.front_door
    if door is None:
        return {}
    site = config.deployment.site
    labels = residency_labels(dict(tags))
    namespace = front_door_namespace(
        f"{site}-front-door",
        NAMESPACE,
        labels,
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=cluster.kubernetes_provider)),
        # Until 61e8d77 the namespace was a child of the entry component of the same name.
        previous_parent=pulumi.create_urn(f"{site}-front-door", "hybrid-llm-infra:front-door:FrontDoorEntry"),
    )
    # The NLB-to-proxy leg's certificate (the NLB does not validate it; components/backend_certificate.py).
    backend_tls = BackendCertificate(
        f"{site}-front-door-backend-tls",
        BackendCertificateArgs(
            common_name=door.hostname,
            dns_names=[door.hostname],
            namespace=NAMESPACE,
            secret_name=BACKEND_TLS_SECRET,
            kubernetes_provider=cluster.kubernetes_provider,
            labels=labels,
            depends_on=[namespace],
        ),
        opts=opts,
    )
    gateway = door.gateway
    # Only this stack's models (never restricted: the config refuses restricted data on AWS and a restricted model
    # named in frontDoor.gateway.models), by name, in config order.
    routed = [m for m in config.inference if gateway.models is None or m.name in gateway.models]
    gateway_component = FrontDoorGateway(
        f"{site}-envoy-gateway",
        gateway_args(
            gateway,
            # Never restricted here: the config refuses restricted data on AWS.
            [(m.name, m.namespace, False) for m in routed],
            # The NLB's connections come from its private addresses in the VPC.
            entry_sources=[SourceRange(network.vpc_cidr)],
            certificate_secret=backend_tls.secret_name,
            certificate_namespace=None,
            scraper=scaling.scraper,
            scrape_interval=config.metrics.scrape_interval,
            monitoring_depends_on=scaling.crd_releases,
            provider=cluster.kubernetes_provider,
            labels=labels,
            depends_on=[namespace, cluster.system_node_group, *(services[m.name] for m in routed)],
        ),
        opts=opts,
    )
    entry = FrontDoorEntry(
        f"{site}-front-door",
        FrontDoorEntryArgs(
            zone_id=door.zone.hosted_zone_id,
            hostname=door.hostname,
            namespace=NAMESPACE,
            gateway_selector=GATEWAY_SELECTOR,
            gateway_port=GATEWAY_PORT,
            public_subnet_ids=network.public_subnet_ids,
            kubernetes_provider=cluster.kubernetes_provider,
            labels=labels,
            tags=dict(tags),
            service_depends_on=[namespace, controller, gateway_component],
        ),
        opts=opts,
    )
    secondary = door.secondary
    dns = JurisdictionDns(
        f"{site}-front-door-dns",
        JurisdictionDnsArgs(
            zone_id=door.zone.hosted_zone_id,
            hostname=door.hostname,
            primary=RegionEntry(
                site=site,
                dns_name=entry.load_balancer_hostname,
                alias_zone_id=NLB_ALIAS_ZONES[config.aws_region],
                health_check=_health(door.health_check),
            ),
            secondary=SiteEntry(secondary.site, secondary.address, _health(secondary.health_check), secondary.hostname)
            if secondary
            else None,
            ttl=door.ttl,
            tags=dict(tags),
        ),
        opts=opts,
    )
    return {
        "frontDoor": {
            "hostname": dns.hostname,
            "url": f"https://{door.hostname}/v1",
            "sites": [site, *([secondary.site] if secondary else [])],
            **(
                {"siteUrls": {secondary.site: f"https://{secondary.hostname}/v1"}}
                if secondary and secondary.hostname
                else {}
            ),
            "certificateArn": entry.certificate.arn,
            "backendCertificateExpiresAt": backend_tls.expires_at,
        }
    }
