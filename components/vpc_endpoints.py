"""VPC endpoints that keep node bootstrap and model pulls in-region and off the internet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_aws import ec2

TYPE_TOKEN = "hybrid-llm-infra:network:VpcEndpoints"
# Resolve the SDK's lazy modules when this module is imported, not at the first registration:
# `infra check` imports the program once and then forks a worker per stack, which share them.
_SDK = (ec2.VpcEndpoint, ec2.SecurityGroup)

# Interface endpoints an EKS cluster with private nodes needs: image pulls (ECR api + dkr, whose layers
# come from S3 through the gateway endpoint), STS for IAM roles, CloudWatch Logs, EKS Pod Identity (eks-auth).
DEFAULT_INTERFACE_SERVICES = ("ecr.api", "ecr.dkr", "sts", "logs", "eks-auth")


@dataclass(frozen=True)
class VpcEndpointsArgs:
    """Inputs of VpcEndpoints."""

    region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    """Only this range may reach the interface endpoints (HTTPS)."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets (one per AZ) that get an endpoint network interface."""
    route_table_ids: Sequence[pulumi.Input[str]]
    """Private route tables that get the S3 gateway route."""
    interface_services: Sequence[str] = DEFAULT_INTERFACE_SERVICES
    tags: Mapping[str, str] = field(default_factory=dict)


class VpcEndpoints(pulumi.ComponentResource):
    """An S3 gateway endpoint and private-DNS interface endpoints behind a 443-from-the-VPC security group."""

    security_group: ec2.SecurityGroup
    s3_gateway: ec2.VpcEndpoint
    interfaces: dict[str, ec2.VpcEndpoint]

    def __init__(self, name: str, args: VpcEndpointsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.s3_gateway = ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=args.vpc_id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=list(args.route_table_ids),
            tags={**args.tags, "Name": f"{name}-s3"},
            opts=child,
        )
        self.security_group = ec2.SecurityGroup(
            f"{name}-sg",
            description="HTTPS from the VPC to interface endpoints",
            vpc_id=args.vpc_id,
            ingress=[
                ec2.SecurityGroupIngressArgs(
                    description="HTTPS from the VPC",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[args.vpc_cidr],
                )
            ],
            egress=[],  # endpoints answer; they never open connections
            tags={**args.tags, "Name": f"{name}-sg"},
            opts=child,
        )
        self.interfaces = {}
        for service in args.interface_services:
            suffix = service.replace(".", "-")
            self.interfaces[service] = ec2.VpcEndpoint(
                f"{name}-{suffix}",
                vpc_id=args.vpc_id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=list(args.subnet_ids),
                security_group_ids=[self.security_group.id],
                tags={**args.tags, "Name": f"{name}-{suffix}"},
                opts=child,
            )
        self.register_outputs(
            {
                "s3GatewayId": self.s3_gateway.id,
                "interfaceEndpointIds": {s: e.id for s, e in self.interfaces.items()},
                "securityGroupId": self.security_group.id,
            }
        )
