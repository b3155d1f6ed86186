"""An AWS region of the platform."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.kms import StackKey, StackKeyArgs
from components.network import RegionalNetwork, RegionalNetworkArgs
from stackconfig import AwsStackConfig
from stacks.tags import stack_tags


def build_aws_stack(config: AwsStackConfig) -> dict[str, Any]:
    site = config.deployment.site
    tags = stack_tags(config)
    provider = aws.Provider(
        f"aws-{site}",
        region=config.aws_region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
    )
    with_provider = pulumi.ResourceOptions(provider=provider)
    key = StackKey(site, StackKeyArgs(region=config.aws_region), opts=with_provider)
    net = config.network
    network = RegionalNetwork(
        site,
        RegionalNetworkArgs(
            vpc_cidr=config.site_plan.vpc_cidr,
            log_kms_key_arn=key.arn,
            az_count=net.az_count,
            private_subnet_prefix=net.private_subnet_prefix,
            public_subnet_prefix=net.public_subnet_prefix,
            nat_gateway_per_az=net.nat_gateway_per_az,
            flow_log_retention_days=net.flow_log_retention_days,
        ),
        opts=with_provider,
    )
    return {
        "region": config.aws_region,
        "jurisdiction": config.deployment.jurisdiction,
        "vpcId": network.vpc_id,
        "vpcCidr": network.vpc_cidr,
        "availabilityZones": network.availability_zones,
        "privateSubnetIds": network.private_subnet_ids,
        "privateRouteTableIds": network.private_route_table_ids,
        "kmsKeyArn": key.arn,
        "flowLogGroupName": network.flow_log_group_name,
    }
