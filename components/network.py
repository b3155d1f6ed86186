"""The regional network of an AWS stack: private subnets for workloads, NAT for egress, flow logs.

Modelled on pulumi/examples aws-py-hub-and-spoke-network/spoke.py, with flow logs encrypted
by the stack's key and subnets carved deterministically from the planned VPC CIDR.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class RegionalNetworkArgs:
    """Inputs of RegionalNetwork."""

    vpc_cidr: str
    """The VPC's CIDR block, from the address plan."""
    log_kms_key_arn: pulumi.Input[str]
    """KMS key that encrypts the flow-log group (customer-managed, rotation on)."""
    az_count: int = 3
    """Availability zones to spread subnets over (the region's first N available zones)."""
    private_subnet_prefix: int = 19
    public_subnet_prefix: int = 24
    nat_gateway_per_az: bool = True
    """One NAT gateway per AZ survives the loss of a zone; one shared is cheaper."""
    flow_log_retention_days: int = 365
    availability_zones: Sequence[str] | None = None
    """Zone names to use; by default the region's available zones, asked of AWS."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every resource, on top of the provider's default tags."""
    private_subnet_tags: Mapping[str, str] = field(default_factory=dict)
    """More tags on the private subnets only (e.g. ``karpenter.sh/discovery``). On the subnet resource itself: a
    separate ec2.Tag on a subnet this program also tags would be removed again by the subnet's own tags."""


@dataclass(frozen=True)
class SubnetPlan:
    """Which CIDR each subnet of each zone gets."""

    zone: str
    private_cidr: str
    public_cidr: str


def plan_subnets(vpc_cidr: str, zones: Sequence[str], private_prefix: int, public_prefix: int) -> list[SubnetPlan]:
    """Private subnets from the start of the VPC, public ones from its end, so they never meet."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    private = list(vpc.subnets(new_prefix=private_prefix))[: len(zones)]
    public = list(vpc.subnets(new_prefix=public_prefix))[-len(zones) :]
    for priv in private:
        for pub in public:
            if priv.overlaps(pub):
                raise ValueError(f"{vpc} is too small for {len(zones)} zones of /{private_prefix} and /{public_prefix}")
    return [SubnetPlan(z, str(a), str(b)) for z, a, b in zip(zones, private, public, strict=True)]


class RegionalNetwork(pulumi.ComponentResource):
    """VPC, private and public subnets per AZ, NAT, route tables and encrypted flow logs."""

    vpc: aws.ec2.Vpc
    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    availability_zones: list[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    subnets_by_zone: dict[str, pulumi.Output[str]]
    flow_log_group_name: pulumi.Output[str]
    nat_public_ips: list[pulumi.Output[str]]
    """Where the region's workloads come from on the internet (its NAT gateways' Elastic IPs)."""

    def __init__(self, name: str, args: RegionalNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:network:RegionalNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def tags(suffix: str, **extra: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{suffix}", **extra}

        zones = list(args.availability_zones or self._available_zones())
        if len(zones) < args.az_count:
            raise ValueError(f"{name}: the region offers {len(zones)} available zones, {args.az_count} requested")
        zones = zones[: args.az_count]
        plan = plan_subnets(args.vpc_cidr, zones, args.private_subnet_prefix, args.public_subnet_prefix)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tags("vpc"),
            opts=child,
        )
        # The default security group allows all traffic between its members; take every rule away.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=self.vpc.id, tags=tags("default-sg"), opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=tags("igw"), opts=child)

        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=self.vpc.id, tags=tags("public-rt"), opts=child)
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )

        self.private_subnet_ids, self.public_subnet_ids, self.private_route_table_ids = [], [], []
        self.subnets_by_zone = {}
        nat_ids: list[pulumi.Output[str]] = []
        self.nat_public_ips = []
        for index, sub in enumerate(plan):
            suffix = sub.zone.rsplit("-", 1)[-1]
            public = aws.ec2.Subnet(
                f"{name}-public-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=sub.public_cidr,
                availability_zone=sub.zone,
                map_public_ip_on_launch=False,
                tags=tags(f"public-{suffix}", **{"kubernetes.io/role/elb": "1"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{suffix}", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=sub.private_cidr,
                availability_zone=sub.zone,
                map_public_ip_on_launch=False,
                tags=tags(f"private-{suffix}", **{"kubernetes.io/role/internal-elb": "1", **args.private_subnet_tags}),
                opts=child,
            )
            if args.nat_gateway_per_az or index == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{suffix}", domain="vpc", tags=tags(f"nat-{suffix}"), opts=child)
                self.nat_public_ips.append(eip.public_ip)
                nat = aws.ec2.NatGateway(
                    f"{name}-nat-{suffix}",
                    subnet_id=public.id,
                    allocation_id=eip.allocation_id,
                    tags=tags(f"nat-{suffix}"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
                nat_ids.append(nat.id)
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{suffix}", vpc_id=self.vpc.id, tags=tags(f"private-rt-{suffix}"), opts=child
            )
            aws.ec2.Route(
                f"{name}-private-default-{suffix}",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat_ids[-1],
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{suffix}", subnet_id=private.id, route_table_id=rt.id, opts=child
            )
            self.private_subnet_ids.append(private.id)
            self.public_subnet_ids.append(public.id)
            self.private_route_table_ids.append(rt.id)
            self.subnets_by_zone[sub.zone] = private.id

        self.flow_log_group_name = self._flow_logs(name, args, tags("flow-logs"))
        self.vpc_id = self.vpc.id
        self.vpc_cidr = args.vpc_cidr
        self.availability_zones = zones
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "vpcCidr": self.vpc_cidr,
                "privateSubnetIds": self.private_subnet_ids,
                "privateRouteTableIds": self.private_route_table_ids,
                "flowLogGroupName": self.flow_log_group_name,
            }
        )

    def _available_zones(self) -> list[str]:
        result = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(parent=self))
        return sorted(result.names)

    def _flow_logs(self, name: str, args: RegionalNetworkArgs, tags: dict[str, str]) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/hybrid-llm-infra/{name}/vpc-flow-logs",
            kms_key_id=args.log_kms_key_arn,
            retention_in_days=args.flow_log_retention_days,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            # Only this log group, only writing.
            policy=group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child,
        )
        return group.name
