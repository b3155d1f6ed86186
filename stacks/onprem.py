"""The on-prem site of the platform."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_metrics import ClusterMetrics, ClusterMetricsArgs
from components.inference_service import ServiceExposure
from components.keda import Keda, KedaArgs
from components.onprem_cluster import (
    ContainerDefaultsArgs,
    GpuOperatorArgs,
    NamespaceQuotaArgs,
    OnPremInferenceCluster,
    OnPremInferenceClusterArgs,
    PriorityClassArgs,
)
from residency import residency_labels
from stackconfig import OnPremStackConfig
from stackconfig.onprem_cluster import OnPremInferenceServiceConfig
from stacks.aws_metrics import helm_chart
from stacks.inference import inference_service_args
from stacks.onprem_front_door import build_onprem_front_door
from stacks.onprem_vpn import build_onprem_vpn
from stacks.slo import build_slo_rules, build_synthetic_probes, on_call_routing
from stacks.tags import stack_tags


def build_onprem_stack(config: OnPremStackConfig) -> dict[str, Any]:
    labels = residency_labels(stack_tags(config))
    kube = config.kubernetes
    provider = k8s.Provider("onprem", context=kube.context, enable_server_side_apply=True)
    operator = kube.gpu_operator
    classes = kube.priority_classes
    defaults = kube.container_defaults
    on_cluster = pulumi.ResourceOptions(provider=provider)
    metrics = config.metrics
    keda = Keda(
        "onprem-keda",
        KedaArgs(
            chart=helm_chart(config.keda.chart),
            namespace=config.keda.namespace,
            api_server_cidrs=config.address_plan.onprem.cidrs,
            node_selector=metrics.node_selector,
            labels=labels,
        ),
        opts=on_cluster,
    )
    assert metrics.storage_class is not None  # required on-prem (stackconfig.observability.metrics_problems)
    prometheus = ClusterMetrics(
        "onprem-metrics",
        ClusterMetricsArgs(
            chart=helm_chart(metrics.chart),
            namespace=metrics.namespace,
            storage_class=metrics.storage_class,
            storage_size=metrics.storage_size,
            retention_time=metrics.retention_time,
            retention_size=metrics.retention_size,
            keda_namespace=config.keda.namespace,
            scrape_interval=metrics.scrape_interval,
            remote_write_urls=[endpoint.url for endpoint in metrics.remote_write],
            node_selector=metrics.node_selector,
            labels=labels,
            **on_call_routing(config),
        ),
        opts=on_cluster,
    )
    build_slo_rules(config, labels, [prometheus.release], on_cluster)
    build_synthetic_probes(config, labels, metrics.node_selector, [prometheus.release], on_cluster)
    crd_releases = [prometheus.release, keda.release]
    cluster = OnPremInferenceCluster(
        "onprem",
        OnPremInferenceClusterArgs(
            namespaces=kube.namespaces,
            labels=labels,
            gpu_operator=GpuOperatorArgs(
                version=operator.version,
                repository=operator.repository,
                chart=operator.chart,
                namespace=operator.namespace,
                values=operator.merged_values(),
            ),
            vpn_gateway_namespace=kube.vpn_gateway_namespace,
            quotas={
                namespace: NamespaceQuotaArgs(
                    gpus=q.gpus,
                    requests_cpu=q.requests_cpu,
                    requests_memory=q.requests_memory,
                    limits_cpu=q.limits_cpu,
                    limits_memory=q.limits_memory,
                    pods=q.pods,
                )
                for namespace, q in kube.quotas.items()
            },
            container_defaults=ContainerDefaultsArgs(
                default_cpu=defaults.default_cpu,
                default_memory=defaults.default_memory,
                default_request_cpu=defaults.default_request_cpu,
                default_request_memory=defaults.default_request_memory,
            ),
            priority_classes=(
                PriorityClassArgs(classes.inference, classes.inference_value, "Online LLM inference.", True),
                PriorityClassArgs(classes.batch, classes.batch_value, "Batch work: never pre-empts.", False),
            ),
            services={
                model.name: inference_service_args(
                    model,
                    labels,
                    default_priority_class=classes.inference,
                    exposure=model_exposure(model, config),
                    scraper=prometheus.scraper,
                    custom_resources_wait_for=crd_releases,
                    scrape_interval=metrics.scrape_interval,
                )
                for model in kube.models
            },
            scraper=prometheus.scraper,
            gpu_operator_depends_on=[prometheus.release],
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )
    peers = {stack: _peer(stack) for stack in config.peer_stacks}
    front_door = build_onprem_front_door(
        config, cluster.services, labels, provider, [prometheus.release], aws_nat_addresses(peers), prometheus.scraper
    )
    vpn_outputs = build_onprem_vpn(config, peers, labels, cluster.namespaces, pulumi.ResourceOptions(provider=provider))
    operator_release = cluster.gpu_operator
    return {
        "jurisdiction": config.deployment.jurisdiction,
        "namespaces": list(cluster.namespaces),
        "peerVpcCidrs": {stack: ref.get_output("vpcCidr") for stack, ref in peers.items()},
        "gpuOperator": operator_release.status.apply(lambda s: {"chart": s.chart, "version": s.version})
        if operator_release
        else None,
        "inferenceEndpoints": {name: service.endpoint for name, service in cluster.services.items()},
        # The forwarder snippets each AWS region renders for its private model zone (CoreDNS, unbound).
        "awsModelDnsForwarders": {stack: ref.get_output("dnsForwarders") for stack, ref in peers.items()},
        **vpn_outputs,
        **front_door,
    }


def model_exposure(model: OnPremInferenceServiceConfig, config: OnPremStackConfig) -> ServiceExposure | None:
    """The Service and NetworkPolicy rule for callers outside the cluster (None: ClusterIP, namespaces only).

    Callers over the VPN keep their addresses (no NAT on the tunnels), and ``externalTrafficPolicy: Local`` keeps
    them through kube-proxy: the NetworkPolicy's ipBlocks see exactly these CIDRs. The config refuses AWS sites for
    a restricted model (stackconfig.onprem_cluster.exposure_problems) before anything is registered.
    """
    plan = config.address_plan
    callers = [*(plan.onprem.cidrs if model.exposure.onprem else [])]
    callers += [plan.aws_sites[site].vpc_cidr for site in model.exposure.aws_sites]
    if not callers:
        return None
    site = config.kubernetes.service_exposure
    return ServiceExposure(
        type=site.type,
        load_balancer_class=site.load_balancer_class,
        caller_cidrs=callers,
        source_ranges=callers if site.type == "LoadBalancer" else (),
        external_traffic_policy="Local",
    )


def aws_nat_addresses(peers: Mapping[str, pulumi.StackReference]) -> pulumi.Output[list[str]]:
    """The AWS stacks' NAT gateway addresses (their ``natPublicIps``): where their workloads come from on the
    internet. Required: a peer that does not export them yet fails the preview (deploy the AWS stacks first) rather
    than leaving its addresses admitted (a missing output reads as None)."""
    outputs = [ref.get_output("natPublicIps").apply(_nat_of(stack)) for stack, ref in sorted(peers.items())]
    return pulumi.Output.all(*outputs).apply(lambda lists: [ip for ips in lists for ip in ips])


def _nat_of(stack: str) -> Callable[[Any], list[str]]:
    def check(value: Any) -> list[str]:
        if not isinstance(value, list) or not value:
            raise ValueError(
                f"peer stack {stack} exports no natPublicIps: deploy it first (the on-prem front door keeps its NAT "
                "addresses out and will not guess them)"
            )
        return [str(ip) for ip in value]

    return check


def _peer(stack: str) -> pulumi.StackReference:
    return pulumi.StackReference(f"{pulumi.get_organization()}/{pulumi.get_project()}/{stack}")
