"""The endpoint components under Pulumi's mock engine: InferenceService exposure, the controller, EndpointNetwork,
PrivateModelDns; and their manifests against the Kubernetes schema."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.aws_load_balancer_controller import (
    AwsLoadBalancerController,
    AwsLoadBalancerControllerArgs,
    controller_iam_policy,
)
from components.helm_chart import HelmChart
from components.inference_service import InferenceService, InferenceServiceArgs, PvcModel, ServiceExposure
from components.model_endpoints import (
    EndpointNetwork,
    EndpointNetworkArgs,
    EndpointSubnet,
    PrivateModelDns,
    PrivateModelDnsArgs,
    model_slots,
    reserved_block,
)
from residency.kubernetes_manifests import manifest_from_inputs

LABELS = {"data-residency": "eu", "data-classification": "internal"}


def _service(exposure: ServiceExposure | None) -> InferenceService:
    provider = k8s.Provider("cluster", context="ctx")
    args = InferenceServiceArgs(
        namespace="inference",
        served_model_name="m",
        model=PvcModel(claim_name="w"),
        client_namespaces=["api-gateway"],
        labels=LABELS,
        exposure=exposure,
    )
    return InferenceService("m", args, pulumi.ResourceOptions(provider=provider))


def _valid(resource: Any) -> dict[str, Any]:
    manifest = manifest_from_inputs(resource.type, resource.inputs)
    assert manifest is not None
    kubernetes_validate.validate(manifest, "1.31", strict=True)
    return manifest


def test_a_node_port_exposure_keeps_the_callers_address_and_admits_their_cidrs(mock_stack) -> None:
    _service(ServiceExposure(type="NodePort", caller_cidrs=["10.10.0.0/16", "10.10.0.0/16"]))
    service = _valid(mock_stack.named("kubernetes:core/v1:Service", "m-svc"))
    assert service["spec"]["type"] == "NodePort" and service["spec"]["externalTrafficPolicy"] == "Local"
    policy = _valid(mock_stack.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "m-netpol"))
    [rule] = policy["spec"]["ingress"]
    assert rule["from"][1:] == [{"ipBlock": {"cidr": "10.10.0.0/16"}}]  # once, after the namespaces
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]


def test_a_load_balancer_exposure_carries_class_annotations_and_source_ranges(mock_stack) -> None:
    exposure = ServiceExposure(
        type="LoadBalancer",
        load_balancer_class="service.k8s.aws/nlb",
        annotations={"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
        caller_cidrs=["10.10.0.0/16"],
        source_ranges=["10.10.0.0/16"],
        external_traffic_policy=None,
        allocate_node_ports=False,
    )
    component = _service(exposure)
    service = _valid(mock_stack.named("kubernetes:core/v1:Service", "m-svc"))
    spec = service["spec"]
    assert spec["loadBalancerClass"] == "service.k8s.aws/nlb" and spec["allocateLoadBalancerNodePorts"] is False
    assert spec["loadBalancerSourceRanges"] == ["10.10.0.0/16"] and "externalTrafficPolicy" not in spec
    assert service["metadata"]["annotations"] == {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
    # The hostname is what the controller reports in status (the offline mock answers like it).
    hostname = mock_stack.resolve(component.load_balancer_hostname)
    assert hostname.startswith("k8s-m-svc-") and hostname.endswith(".elb.amazonaws.com")


def test_an_unexposed_service_has_no_hostname_and_no_address_rule(mock_stack) -> None:
    component = _service(None)
    assert mock_stack.resolve(component.load_balancer_hostname) is None
    policy = mock_stack.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "m-netpol")
    assert not [p for p in policy.inputs["spec"]["ingress"][0]["from"] if "ipBlock" in p]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"type": "ClusterIP", "caller_cidrs": ["10.0.0.0/8"]}, "type must be LoadBalancer or NodePort"),
        ({"type": "NodePort", "caller_cidrs": ["10.0.0.0/8"], "load_balancer_class": "x"}, "needs type LoadBalancer"),
        ({"type": "LoadBalancer", "caller_cidrs": []}, "needs caller CIDRs"),
    ],
)
def test_exposure_args_refuse_what_kubernetes_would(fields: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ServiceExposure(**fields)


def test_the_controller_gets_cluster_region_vpc_and_its_policy(mock_stack) -> None:
    provider = k8s.Provider("cluster", context="ctx")
    AwsLoadBalancerController(
        "lbc",
        AwsLoadBalancerControllerArgs(
            cluster_name="c",
            cluster_arn="arn:aws:eks:eu-central-1:123456789012:cluster/c",
            account_id="123456789012",
            region="eu-central-1",
            vpc_id="vpc-1",
            chart=HelmChart("oci://mirror.example/charts", "aws-load-balancer-controller", "1.17.1"),
            kubernetes_provider=provider,
        ),
    )
    release = mock_stack.named("kubernetes:helm.sh/v3:Release", "lbc-release")
    assert release.inputs["chart"] == "oci://mirror.example/charts/aws-load-balancer-controller"
    assert "repositoryOpts" not in release.inputs
    assert release.inputs["values"]["clusterName"] == "c" and release.inputs["values"]["vpcId"] == "vpc-1"
    assert release.inputs["values"]["enableServiceMutatorWebhook"] is False
    policy = mock_stack.named("aws:iam/rolePolicy:RolePolicy", "lbc-policy")
    assert json.loads(policy.inputs["policy"]) == controller_iam_policy()
    trust = json.loads(mock_stack.named("aws:iam/role:Role", "lbc-role").inputs["assumeRolePolicy"])
    condition = trust["Statement"][0]["Condition"]
    assert condition["ArnEquals"]["aws:SourceArn"] == "arn:aws:eks:eu-central-1:123456789012:cluster/c"


def test_endpoint_network_reserves_explicit_blocks_and_guards_the_port(mock_stack) -> None:
    subnets = [EndpointSubnet(f"subnet-{i}", f"z{i}", reserved_block(f"10.20.{32 * i}.0/19")) for i in range(2)]
    EndpointNetwork(
        "ep",
        EndpointNetworkArgs(
            vpc_id="vpc-1", vpc_cidr="10.20.0.0/16", subnets=subnets, onprem_cidrs=["10.10.0.0/16"], port=8000
        ),
    )
    reservations = mock_stack.of_type("aws:ec2/subnetCidrReservation:SubnetCidrReservation")
    assert sorted((r.inputs["subnetId"], r.inputs["cidrBlock"], r.inputs["reservationType"]) for r in reservations) == [
        ("subnet-0", "10.20.31.224/28", "explicit"),
        ("subnet-1", "10.20.63.224/28", "explicit"),
    ]
    [group] = mock_stack.of_type("aws:ec2/securityGroup:SecurityGroup")
    [rule] = group.inputs["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) == (
        "tcp",
        8000,
        8000,
        ["10.10.0.0/16"],
    )
    assert model_slots() == 14 and ipaddress.ip_network(reserved_block("10.20.0.0/19")).num_addresses == 16


def test_private_dns_records_each_model_and_renders_forwarders(mock_stack) -> None:
    dns = PrivateModelDns(
        "dns",
        PrivateModelDnsArgs(
            vpc_id="vpc-1",
            zone_name="frankfurt.models.internal",
            resolver_addresses=[("subnet-0", "10.20.31.239"), ("subnet-1", "10.20.63.238")],
            onprem_cidrs=["10.10.0.0/16"],
            records={"a": "nlb-a.elb.amazonaws.com", "b": "nlb-b.elb.amazonaws.com"},
        ),
    )
    records = {r.inputs["name"]: r.inputs["records"] for r in mock_stack.of_type("aws:route53/record:Record")}
    assert records == {
        "a.frankfurt.models.internal": ["nlb-a.elb.amazonaws.com"],
        "b.frankfurt.models.internal": ["nlb-b.elb.amazonaws.com"],
    }
    assert dns.forwarders["coredns"] == (
        "frankfurt.models.internal:53 {\n    errors\n    cache 30\n    forward . 10.20.31.239 10.20.63.238\n}\n"
    )
    assert dns.forwarders["unbound"] == (
        'forward-zone:\n    name: "frankfurt.models.internal."\n'
        "    forward-addr: 10.20.31.239\n    forward-addr: 10.20.63.238\n"
    )
    [resolver] = mock_stack.of_type("aws:route53/resolverEndpoint:ResolverEndpoint")
    assert resolver.inputs["protocols"] == ["Do53"]
