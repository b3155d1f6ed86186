"""An on-prem site's public entry: its namespace and a Service of type LoadBalancer in front of the gateway.

The site's own load-balancer implementation (MetalLB, Cilium, F5, ... chosen by ``loadBalancerClass``) gives the
Service its address; TLS passes through to the gateway, which holds the public certificate (unlike AWS, there is no
ACM to end it at the load balancer). ``externalTrafficPolicy: Local`` keeps each caller's address, so the gateway's
NetworkPolicy decides by real sources: anything but the AWS sites' ranges, which reach the site's addresses over the
VPN and must not reach its restricted models through the front door (control restricted-model-isolated). The same
ranges are left out of ``loadBalancerSourceRanges`` (Kubernetes: an allow-list, so it lists the complement).
README, "The front door".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.front_door_entry import HTTPS_PORT
from components.service_status import load_balancer_ingress
from residency.front_door import PUBLIC_ENTRY_LABEL, PUBLIC_ENTRY_VALUE


@dataclass(frozen=True)
class SiteFrontDoorEntryArgs:
    namespace: str
    gateway_selector: Mapping[str, str]
    """Labels of the gateway's proxy pods."""
    gateway_port: int
    """The port the proxies serve the 443 listener on (TLS)."""
    source_ranges: pulumi.Input[Sequence[str]]
    """loadBalancerSourceRanges: every IPv4 address but the AWS sites' ranges and NAT addresses."""
    load_balancer_class: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    allocate_node_ports: bool = False
    """kube-proxy applies loadBalancerSourceRanges to the load balancer's address only, not to a node port
    (pkg/proxy: "for loadbalancers which direct traffic to service NodePort, the firewall rules will not apply")."""
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()
    """The namespace and the gateway: pulumi-kubernetes reports a Service ready only once pods it selects are ready
    (provider/pkg/await/service.go), so the Service comes after the proxies, never the other way round."""


class SiteFrontDoorEntry(pulumi.ComponentResource):
    """The LoadBalancer Service selecting the gateway's proxies (its namespace: ``front_door_namespace``)."""

    service: k8s.core.v1.Service
    address: pulumi.Output[str]

    def __init__(self, name: str, args: SiteFrontDoorEntryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:front-door:SiteFrontDoorEntry", name, None, opts)
        self.service = k8s.core.v1.Service(
            f"{name}-lb",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="front-door",
                namespace=args.namespace,
                labels={**args.labels, PUBLIC_ENTRY_LABEL: PUBLIC_ENTRY_VALUE},
                annotations=dict(args.annotations) or None,
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                load_balancer_class=args.load_balancer_class,
                external_traffic_policy="Local",
                allocate_load_balancer_node_ports=args.allocate_node_ports,
                load_balancer_source_ranges=args.source_ranges,
                selector=dict(args.gateway_selector),
                # 443 only: no listener on 80, so plain HTTP finds nothing to connect to.
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="https", port=HTTPS_PORT, target_port=args.gateway_port, protocol="TCP"
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )

        def address(status: object) -> str:
            found = load_balancer_ingress(status, "ip", "hostname")
            if not found:
                raise ValueError(f"{name}: the site's load balancer gave the front-door Service no address")
            return str(found)

        self.address = self.service.status.apply(address)
        self.register_outputs({"address": self.address})
