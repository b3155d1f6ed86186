"""Unit tests of the foundation's components under Pulumi's mock engine."""

from __future__ import annotations

import ipaddress
import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from components.kms import StackKey, StackKeyArgs
from components.network import RegionalNetwork, RegionalNetworkArgs, plan_subnets
from components.onprem_cluster import OnPremInferenceCluster, OnPremInferenceClusterArgs


def test_plan_subnets_never_overlap_and_stay_in_the_vpc() -> None:
    plan = plan_subnets("10.30.0.0/16", ["a", "b", "c"], 19, 24)
    nets = [ipaddress.IPv4Network(c) for p in plan for c in (p.private_cidr, p.public_cidr)]
    assert all(n.subnet_of(ipaddress.IPv4Network("10.30.0.0/16")) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    with pytest.raises(ValueError, match="too small"):
        plan_subnets("10.30.0.0/20", ["a", "b", "c"], 21, 24)


def test_regional_network_spreads_over_the_regions_real_zones(mock_stack) -> None:
    provider = aws.Provider("aws", region="me-central-1")
    key = StackKey("dubai", StackKeyArgs(region="me-central-1"), pulumi.ResourceOptions(provider=provider))
    net = RegionalNetwork(
        "dubai",
        RegionalNetworkArgs(vpc_cidr="10.30.0.0/16", log_kms_key_arn=key.arn, flow_log_retention_days=90),
        pulumi.ResourceOptions(provider=provider),
    )
    subnets = mock_stack.of_type("aws:ec2/subnet:Subnet")
    assert sorted({s.inputs["availabilityZone"] for s in subnets}) == [
        "me-central-1a",
        "me-central-1b",
        "me-central-1c",
    ]
    assert not any(s.inputs["mapPublicIpOnLaunch"] for s in subnets)
    assert len(mock_stack.of_type("aws:ec2/natGateway:NatGateway")) == 3
    private_routes = [
        r for r in mock_stack.of_type("aws:ec2/route:Route") if r.name.startswith("dubai-private-default")
    ]
    assert len(private_routes) == 3 and all(r.inputs.get("natGatewayId", "").startswith("nat-") for r in private_routes)
    group = mock_stack.named("aws:cloudwatch/logGroup:LogGroup", "dubai-flow-logs")
    assert group.inputs["retentionInDays"] == 90
    assert group.inputs["kmsKeyId"].startswith("arn:aws:kms:me-central-1:")
    flow_log = mock_stack.named("aws:ec2/flowLog:FlowLog", "dubai-flow-log")
    assert flow_log.inputs["trafficType"] == "ALL"
    assert all(r.parent and r.parent.endswith("::dubai") for r in subnets)
    assert mock_stack.resolve(net.vpc_id).startswith("vpc-")
    assert len(mock_stack.resolve(net.private_route_table_ids)) == 3


def test_single_nat_gateway_when_asked(mock_stack) -> None:
    RegionalNetwork(
        "fra",
        RegionalNetworkArgs(
            vpc_cidr="10.20.0.0/16", log_kms_key_arn="arn:aws:kms:eu-central-1:1:key/x", nat_gateway_per_az=False
        ),
    )
    assert len(mock_stack.of_type("aws:ec2/natGateway:NatGateway")) == 1
    routes = [r for r in mock_stack.of_type("aws:ec2/route:Route") if "private-default" in r.name]
    assert len({r.inputs["natGatewayId"] for r in routes}) == 1


def test_too_few_zones_is_a_clear_error(mock_stack) -> None:
    with pytest.raises(ValueError, match="offers 3 available zones, 4 requested"):
        RegionalNetwork("fra", RegionalNetworkArgs(vpc_cidr="10.20.0.0/16", log_kms_key_arn="k", az_count=4))


def test_stack_key_rotates_and_names_its_principals(mock_stack) -> None:
    StackKey("fra", StackKeyArgs(region="eu-central-1"))
    key = mock_stack.named("aws:kms/key:Key", "fra-key")
    assert key.inputs["enableKeyRotation"] is True
    policy = json.loads(key.inputs["policy"])
    principals = [s["Principal"] for s in policy["Statement"]]
    assert all(p != "*" and "*" not in json.dumps(p) for p in principals)
    assert {"Service": "logs.eu-central-1.amazonaws.com"} in principals


def test_onprem_namespaces_carry_residency_and_pod_security_labels(mock_stack) -> None:
    provider = k8s.Provider("onprem", context="ctx")
    OnPremInferenceCluster(
        "onprem",
        OnPremInferenceClusterArgs(namespaces=["inference"], labels={"data-residency": "eu"}),
        pulumi.ResourceOptions(provider=provider),
    )
    (namespace,) = mock_stack.of_type("kubernetes:core/v1:Namespace")
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["data-residency"] == "eu"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace.provider and namespace.provider.endswith("::onprem")
