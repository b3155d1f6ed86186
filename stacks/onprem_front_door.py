"""The on-prem site's front door: the secondary of its jurisdiction's hostname, and the entry to its own models.

The same gateway as on AWS (Envoy Gateway, one route per model, JWT, per-client limit, ``/healthz`` for Route 53),
behind the site's load balancer instead of an NLB, with the public certificate ending at the gateway. Restricted
models may be routed here (this is where they are served); the AWS sites' ranges are kept out of the entry, since
they reach the site's addresses over the VPN. README, "The front door".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.front_door_entry import front_door_namespace
from components.front_door_gateway import FrontDoorGateway, SourceRange
from components.inference_service import InferenceService
from components.model_scaling import Scraper
from components.site_front_door_entry import SiteFrontDoorEntry, SiteFrontDoorEntryArgs
from residency import ONPREM_ONLY_CLASSIFICATIONS
from stackconfig import OnPremStackConfig
from stackconfig.addressing import aws_ranges
from stackconfig.inference import classification_of
from stacks.front_door import GATEWAY_PORT, GATEWAY_SELECTOR, NAMESPACE, gateway_args

EVERYWHERE = "0.0.0.0/0"


def public_ranges_except(excluded: Sequence[str]) -> list[str]:
    """The IPv4 space without ``excluded``, as the fewest CIDRs (loadBalancerSourceRanges has no ``except``)."""
    remaining = [ipaddress.IPv4Network(EVERYWHERE)]
    for cidr in excluded:
        hole = ipaddress.IPv4Network(cidr)
        remaining = [
            part
            for network in remaining
            for part in (network.address_exclude(hole) if hole.subnet_of(network) else [network])
            if not part.subnet_of(hole)
        ]
    return [str(n) for n in ipaddress.collapse_addresses(remaining)]


def entry_load_balancer_class(config: OnPremStackConfig) -> str | None:
    """One implementation per site unless the config names another: the class of the models' Services."""
    door = config.front_door
    own = door.load_balancer.load_balancer_class if door is not None else None
    return own or config.kubernetes.service_exposure.load_balancer_class


def build_onprem_front_door(
    config: OnPremStackConfig,
    services: Mapping[str, InferenceService],
    labels: Mapping[str, str],
    provider: pulumi.ProviderResource,
    depends_on: Sequence[pulumi.Resource],
    aws_nat_addresses: pulumi.Input[Sequence[str]],
    scraper: Scraper,
) -> dict[str, Any]:
    door = config.front_door
    if door is None:
        return {}
    site = config.deployment.site
    opts = pulumi.ResourceOptions(provider=provider)
    # The AWS sites reach the site over the VPN from their address-plan ranges, and over the internet from their
    # NAT gateways: neither may come in through the public entry to the restricted models.
    excluded = pulumi.Output.from_input(aws_nat_addresses).apply(
        lambda nat: [*aws_ranges(config.address_plan), *(f"{ip}/32" for ip in sorted(set(nat)))]
    )
    balancer = door.load_balancer
    namespace = front_door_namespace(
        f"{site}-front-door",
        NAMESPACE,
        labels,
        opts,
        # Until 61e8d77 the namespace was a child of the site's entry component of the same name.
        previous_parent=pulumi.create_urn(f"{site}-front-door", "hybrid-llm-infra:front-door:SiteFrontDoorEntry"),
    )
    gateway = door.gateway
    routed = [m for m in config.kubernetes.models if gateway.models is None or m.name in gateway.models]
    gateway_component = FrontDoorGateway(
        f"{site}-envoy-gateway",
        gateway_args(
            gateway,
            [
                (m.name, m.namespace, classification_of(m, config.classification) in ONPREM_ONLY_CLASSIFICATIONS)
                for m in routed
            ],
            entry_sources=[SourceRange(EVERYWHERE, excluded)],
            certificate_secret=door.certificate.name,
            certificate_namespace=door.certificate.namespace,
            scraper=scraper,
            scrape_interval=config.metrics.scrape_interval,
            monitoring_depends_on=depends_on,
            provider=provider,
            labels=labels,
            depends_on=[namespace, *depends_on, *(services[m.name] for m in routed)],
            protect_crds=True,  # the site's existing cluster: other teams may use these types
        ),
        opts=opts,
    )
    entry = SiteFrontDoorEntry(
        f"{site}-front-door",
        SiteFrontDoorEntryArgs(
            namespace=NAMESPACE,
            gateway_selector=GATEWAY_SELECTOR,
            gateway_port=GATEWAY_PORT,
            source_ranges=excluded.apply(public_ranges_except),
            load_balancer_class=entry_load_balancer_class(config),
            annotations=balancer.annotations,
            allocate_node_ports=balancer.allocate_node_ports,
            labels=labels,
            depends_on=[namespace, gateway_component],
        ),
        opts=opts,
    )
    return {
        "frontDoor": {
            "hostnames": list(door.hostnames),
            "urls": [f"https://{h}/v1" for h in door.hostnames],
            # What the jurisdiction's AWS stack names as frontDoor.secondary.address (through the site's NAT, if any).
            "loadBalancerAddress": entry.address,
            "models": [m.name for m in routed],
        }
    }
