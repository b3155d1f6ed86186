"""Stable endpoints of an AWS region's models for on-prem callers (README, "Reaching models across sites").

Models with ``exposeToOnprem`` get an internal NLB from the AWS Load Balancer Controller (IP targets, fixed
addresses from a reserved block, the frontend group admitting only the on-prem CIDRs) and a name in the region's
private hosted zone, which on-prem DNS resolves through a Route 53 Resolver inbound endpoint over the VPN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from components.aws_gpu_cluster import AwsGpuInferenceCluster
from components.aws_load_balancer_controller import (
    NLB_CLASS,
    AwsLoadBalancerController,
)
from components.inference_service import PORT, InferenceService, ServiceExposure
from components.model_endpoints import (
    RESOLVER_SLOTS,
    EndpointNetwork,
    EndpointNetworkArgs,
    EndpointSubnet,
    PrivateModelDns,
    PrivateModelDnsArgs,
    block_address,
    model_slots,
    reserved_block,
)
from components.network import RegionalNetwork, plan_subnets
from stackconfig import AwsStackConfig
from stacks.aws_lb_controller import load_balancer_controller

_LBC = "service.beta.kubernetes.io/aws-load-balancer-"


@dataclass(frozen=True)
class RegionEndpoints:
    """What the models' Services need before they are created, and what the DNS step needs after."""

    controller: AwsLoadBalancerController
    network: EndpointNetwork
    subnets: Sequence[EndpointSubnet]
    exposed: Sequence[str]
    """Exposed model names, in config order (the index is the model's slot in each reserved block)."""

    def exposure(self, model: str, onprem_cidrs: Sequence[str]) -> ServiceExposure:
        slot = self.exposed.index(model)
        addresses = [block_address(s.reserved_cidr, slot) for s in self.subnets]
        subnet_ids = pulumi.Output.all(*[s.subnet_id for s in self.subnets]).apply(lambda ids: ",".join(ids))
        return ServiceExposure(
            type="LoadBalancer",
            load_balancer_class=NLB_CLASS,
            annotations={
                f"{_LBC}scheme": "internal",
                f"{_LBC}nlb-target-type": "ip",
                f"{_LBC}subnets": subnet_ids,
                # Fixed addresses (one per subnet, same order) from the explicit reservation: no pod can hold one,
                # so the NetworkPolicy can admit the NLB's health checks by these blocks alone.
                f"{_LBC}private-ipv4-addresses": ",".join(addresses),
                f"{_LBC}security-groups": self.network.security_group.id,
                # With a frontend group named, backend rules default to off (controller docs, annotations:
                # manage-backend-security-group-rules): on, the controller admits its backend group on the pods' ENIs.
                f"{_LBC}manage-backend-security-group-rules": "true",
                # IP targets over TCP do not preserve the client address by default (ELB docs, "Client IP
                # preservation"): on, the pods see the on-prem caller's address, which the NetworkPolicy admits.
                f"{_LBC}target-group-attributes": "preserve_client_ip.enabled=true",
                # vLLM's own health endpoint (a TCP check passes while the engine is still loading or wedged).
                f"{_LBC}healthcheck-protocol": "http",
                f"{_LBC}healthcheck-path": "/health",
                f"{_LBC}healthcheck-port": "traffic-port",
            },
            caller_cidrs=[*onprem_cidrs, *(s.reserved_cidr for s in self.subnets)],
            external_traffic_policy=None,
            allocate_node_ports=False,
        )


def build_region_endpoints(
    config: AwsStackConfig,
    network: RegionalNetwork,
    zones: Sequence[str],
    cluster: AwsGpuInferenceCluster,
    account_id: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> RegionEndpoints | None:
    exposed = [m.name for m in config.inference if m.expose_to_onprem]
    if not exposed:
        return None
    assert len(exposed) <= model_slots(), "stackconfig caps exposed models at the reserved block's slots"
    site = config.deployment.site
    net = config.network
    plan = plan_subnets(config.site_plan.vpc_cidr, zones, net.private_subnet_prefix, net.public_subnet_prefix)
    subnets = [EndpointSubnet(network.subnets_by_zone[p.zone], p.zone, reserved_block(p.private_cidr)) for p in plan]
    controller = load_balancer_controller(config, cluster, network, account_id, tags, opts)
    endpoint_network = EndpointNetwork(
        f"{site}-model-endpoints",
        EndpointNetworkArgs(
            vpc_id=network.vpc_id,
            vpc_cidr=config.site_plan.vpc_cidr,
            subnets=subnets,
            onprem_cidrs=config.address_plan.onprem.cidrs,
            port=PORT,
            tags=dict(tags),
        ),
        opts=opts,
    )
    return RegionEndpoints(controller, endpoint_network, subnets, exposed)


def build_private_dns(
    config: AwsStackConfig,
    endpoints: RegionEndpoints,
    network: RegionalNetwork,
    services: Mapping[str, InferenceService],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> dict[str, Any]:
    """The zone, the records and the Resolver endpoint; returns the stack outputs."""
    zone = config.endpoints.zone_name(config.deployment.site)
    resolver_subnets = endpoints.subnets[:2]  # Route 53 Resolver endpoints need two addresses (two zones)
    last = model_slots() + RESOLVER_SLOTS - 1
    dns = PrivateModelDns(
        f"{config.deployment.site}-models-dns",
        PrivateModelDnsArgs(
            vpc_id=network.vpc_id,
            zone_name=zone,
            resolver_addresses=[
                (s.subnet_id, block_address(s.reserved_cidr, last - i)) for i, s in enumerate(resolver_subnets)
            ],
            onprem_cidrs=config.address_plan.onprem.cidrs,
            records={name: _hostname(name, services[name]) for name in endpoints.exposed},
            tags=dict(tags),
            depends_on=endpoints.network.reservations,
        ),
        opts=opts,
    )
    return {
        "privateZone": zone,
        "modelEndpoints": {
            name: {
                "hostname": dns.hostnames[name],
                "url": f"http://{dns.hostnames[name]}:{PORT}/v1",
                "addresses": [block_address(s.reserved_cidr, endpoints.exposed.index(name)) for s in endpoints.subnets],
            }
            for name in endpoints.exposed
        },
        "dnsForwarders": dns.forwarders,
    }


def _hostname(name: str, service: InferenceService) -> pulumi.Output[str]:
    def required(hostname: str | None) -> str:
        # A real `pulumi up` has it: pulumi-kubernetes reports a LoadBalancer Service created only once its
        # status.loadBalancer.ingress is set. A preview does not know it yet (the record's target is then unknown).
        if not hostname:
            raise ValueError(f"{name}: the Service reports no load-balancer hostname")
        return hostname

    return service.load_balancer_hostname.apply(required)
