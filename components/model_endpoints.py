"""Private, stable addresses of the models on-prem may call: the NLBs' network side and their private DNS.

``EndpointNetwork`` (before the Services): the NLBs' frontend security group (the on-prem CIDRs to the inference
port, nothing else) and, per private subnet, an *explicit* subnet CIDR reservation (a /28) that EC2 never hands out
by itself, so no pod or node ever holds one of its addresses; each NLB gets fixed private addresses from it
(controller annotation ``aws-load-balancer-private-ipv4-addresses``) and the Resolver endpoint takes its last two.

``PrivateModelDns`` (after the Services): a Route 53 private hosted zone on the VPC with one record per exposed model
(a CNAME to the NLB's DNS name, which pulumi-kubernetes reads from the Service's ``status.loadBalancer.ingress``
once the controller has created the NLB), a Resolver inbound endpoint that on-prem DNS forwards the zone to over
the VPN, behind its own group (DNS from the on-prem CIDRs only), and the forwarder snippets for on-prem DNS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_aws import ec2, route53

TYPE_NETWORK = "hybrid-llm-infra:endpoints:EndpointNetwork"
TYPE_DNS = "hybrid-llm-infra:endpoints:PrivateModelDns"
_SDK = (ec2.SecurityGroup, ec2.SubnetCidrReservation, route53.Zone, route53.Record, route53.ResolverEndpoint)
RESERVED_PREFIX = 28
RESOLVER_SLOTS = 2
"""The last two addresses of each reservation are the Resolver endpoint's (it needs two zones)."""


def reserved_block(private_cidr: str) -> str:
    """The /28 reserved in a private subnet: its second-to-last, which holds none of the 5 addresses AWS keeps."""
    blocks = list(ipaddress.IPv4Network(private_cidr).subnets(new_prefix=RESERVED_PREFIX))
    return str(blocks[-2])


def block_address(block: str, slot: int) -> str:
    return str(ipaddress.IPv4Network(block).network_address + slot)


def model_slots() -> int:
    return 2 ** (32 - RESERVED_PREFIX) - RESOLVER_SLOTS


@dataclass(frozen=True)
class EndpointSubnet:
    subnet_id: pulumi.Input[str]
    zone: str
    reserved_cidr: str


@dataclass(frozen=True)
class EndpointNetworkArgs:
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnets: Sequence[EndpointSubnet]
    onprem_cidrs: Sequence[str]
    port: int
    tags: Mapping[str, str] = field(default_factory=dict)


class EndpointNetwork(pulumi.ComponentResource):
    security_group: ec2.SecurityGroup
    reservations: list[ec2.SubnetCidrReservation]

    def __init__(self, name: str, args: EndpointNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_NETWORK, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # An NLB takes security groups only when it is created (ELBv2 SetSecurityGroups cannot add the first one):
        # this group exists before any Service names it.
        self.security_group = ec2.SecurityGroup(
            f"{name}-nlb-sg",
            description="On-prem callers to the models' internal NLBs",
            vpc_id=args.vpc_id,
            ingress=[
                ec2.SecurityGroupIngressArgs(
                    description="Inference API from the on-prem networks (over the VPN)",
                    protocol="tcp",
                    from_port=args.port,
                    to_port=args.port,
                    cidr_blocks=list(args.onprem_cidrs),
                )
            ],
            # The NLB reaches its IP targets (and health-checks them) on the inference port, inside the VPC only.
            egress=[
                ec2.SecurityGroupEgressArgs(
                    description="Targets and health checks",
                    protocol="tcp",
                    from_port=args.port,
                    to_port=args.port,
                    cidr_blocks=[args.vpc_cidr],
                )
            ],
            tags={**args.tags, "Name": f"{name}-nlb-sg"},
            opts=child,
        )
        self.reservations = [
            ec2.SubnetCidrReservation(
                f"{name}-reserved-{subnet.zone}",
                subnet_id=subnet.subnet_id,
                cidr_block=subnet.reserved_cidr,
                # explicit: "you assign the reserved addresses" (EC2 CreateSubnetCidrReservation); the VPC CNI's
                # automatic assignments never land here.
                reservation_type="explicit",
                description="Fixed addresses of the model NLBs and the Route 53 Resolver inbound endpoint",
                opts=child,
            )
            for subnet in args.subnets
        ]
        self.register_outputs({"securityGroupId": self.security_group.id})


@dataclass(frozen=True)
class PrivateModelDnsArgs:
    vpc_id: pulumi.Input[str]
    zone_name: str
    resolver_addresses: Sequence[tuple[pulumi.Input[str], str]]
    """(subnet id, fixed address) of the Resolver inbound endpoint, two zones."""
    onprem_cidrs: Sequence[str]
    records: Mapping[str, pulumi.Input[str]]
    """Model name -> its NLB's DNS name."""
    tags: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()
    """The reservations the Resolver's fixed addresses come from."""


def coredns_forwarder(zone: str, addresses: Sequence[str]) -> str:
    """A CoreDNS server block forwarding ``zone`` to the Resolver inbound endpoint (plugins: forward, cache)."""
    return f"{zone}:53 {{\n    errors\n    cache 30\n    forward . {' '.join(addresses)}\n}}\n"


def unbound_forwarder(zone: str, addresses: Sequence[str]) -> str:
    """An unbound ``forward-zone`` clause for the same (unbound.conf(5))."""
    lines = [
        "forward-zone:",
        f'    name: "{zone}."',
        *(f"    forward-addr: {a}" for a in addresses),
    ]
    return "\n".join(lines) + "\n"


class PrivateModelDns(pulumi.ComponentResource):
    zone: route53.Zone
    records: dict[str, route53.Record]
    resolver_security_group: ec2.SecurityGroup
    resolver: route53.ResolverEndpoint
    forwarders: dict[str, str]
    hostnames: dict[str, str]

    def __init__(self, name: str, args: PrivateModelDnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_DNS, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.zone = route53.Zone(
            f"{name}-zone",
            name=args.zone_name,
            comment="Models this region exposes to on-prem callers",
            vpcs=[route53.ZoneVpcArgs(vpc_id=args.vpc_id)],
            tags={**args.tags, "Name": args.zone_name},
            opts=child,
        )
        self.hostnames = {model: f"{model}.{args.zone_name}" for model in args.records}
        self.records = {
            model: route53.Record(
                f"{name}-{model}",
                zone_id=self.zone.zone_id,
                name=self.hostnames[model],
                type="CNAME",
                ttl=60,
                records=[target],
                opts=child,
            )
            for model, target in args.records.items()
        }
        self.resolver_security_group = ec2.SecurityGroup(
            f"{name}-resolver-sg",
            description="DNS from the on-prem networks to the Resolver inbound endpoint",
            vpc_id=args.vpc_id,
            ingress=[
                ec2.SecurityGroupIngressArgs(
                    description=f"DNS over {proto} from on-prem",
                    protocol=proto,
                    from_port=53,
                    to_port=53,
                    cidr_blocks=list(args.onprem_cidrs),
                )
                for proto in ("udp", "tcp")
            ],
            # Security groups are stateful: the answers need no egress rule.
            egress=[],
            tags={**args.tags, "Name": f"{name}-resolver-sg"},
            opts=child,
        )
        addresses = [address for _, address in args.resolver_addresses]
        self.resolver = route53.ResolverEndpoint(
            f"{name}-inbound",
            direction="INBOUND",
            security_group_ids=[self.resolver_security_group.id],
            ip_addresses=[
                route53.ResolverEndpointIpAddressArgs(subnet_id=subnet, ip=address)
                for subnet, address in args.resolver_addresses
            ],
            protocols=["Do53"],
            tags={**args.tags, "Name": f"{name}-inbound"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.forwarders = {
            "coredns": coredns_forwarder(args.zone_name, addresses),
            "unbound": unbound_forwarder(args.zone_name, addresses),
        }
        self.register_outputs({"zoneId": self.zone.zone_id, "forwarders": self.forwarders})
