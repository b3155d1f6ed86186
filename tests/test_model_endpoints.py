"""Stable endpoints across sites: the shipped stacks' NLB Services, private DNS, controller, on-prem exposure, and
the config errors that stop a run before anything is registered."""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.aws_load_balancer_controller import (
    IAM_POLICY_FILE,
    IAM_POLICY_SHA256,
    controller_iam_policy,
)
from components.model_endpoints import block_address, coredns_forwarder, reserved_block, unbound_forwarder
from infra.engine import StackRun, run_stack
from infra.mocks import CapturedResource
from infra.project import load_project
from tests.stack_runs import ROOT, shipped_runs

PROJECT = load_project(ROOT)
LBC = "service.beta.kubernetes.io/aws-load-balancer-"
ONPREM_CIDRS = ["10.10.0.0/16"]
FRANKFURT_PRIVATE = ["10.20.0.0/19", "10.20.32.0/19", "10.20.64.0/19"]


def of_type(run: StackRun, type_token: str) -> list[CapturedResource]:
    return [r for r in run.resources if r.type == type_token]


def named(run: StackRun, type_token: str, name: str) -> CapturedResource:
    [found] = [r for r in of_type(run, type_token) if r.name == name]
    return found


def ingress_sources(policy: CapturedResource) -> tuple[list[str], list[str], list[Any]]:
    """(namespaces, ipBlock CIDRs, ports) of a NetworkPolicy's single ingress rule."""
    [rule] = policy.inputs["spec"]["ingress"]
    peers = rule["from"]
    namespaces = [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers if "namespaceSelector" in p
    ]
    blocks = [p["ipBlock"]["cidr"] for p in peers if "ipBlock" in p]
    return namespaces, blocks, rule["ports"]


# --- AWS: the exposed model's Service, the controller, the groups, DNS -----------------------------------------


def test_exposed_model_gets_an_internal_nlb_service_with_ip_targets_and_the_frontend_group() -> None:
    run = shipped_runs()["frankfurt"]
    service = named(run, "kubernetes:core/v1:Service", "llama-3-1-8b-svc")
    spec, annotations = service.inputs["spec"], service.inputs["metadata"]["annotations"]
    assert spec["type"] == "LoadBalancer" and spec["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert spec["allocateLoadBalancerNodePorts"] is False
    assert annotations[f"{LBC}scheme"] == "internal"
    assert annotations[f"{LBC}nlb-target-type"] == "ip"
    assert annotations[f"{LBC}manage-backend-security-group-rules"] == "true"
    assert annotations[f"{LBC}target-group-attributes"] == "preserve_client_ip.enabled=true"
    assert (annotations[f"{LBC}healthcheck-protocol"], annotations[f"{LBC}healthcheck-path"]) == ("http", "/health")
    group = named(run, "aws:ec2/securityGroup:SecurityGroup", "frankfurt-model-endpoints-nlb-sg")
    assert annotations[f"{LBC}security-groups"] == group.id
    # One fixed address per private subnet, in the subnets' order, inside that subnet's explicit reservation.
    subnet_ids = annotations[f"{LBC}subnets"].split(",")
    addresses = annotations[f"{LBC}private-ipv4-addresses"].split(",")
    reservations = {
        r.inputs["subnetId"]: r.inputs for r in of_type(run, "aws:ec2/subnetCidrReservation:SubnetCidrReservation")
    }
    assert len(subnet_ids) == len(addresses) == 3 and set(subnet_ids) == set(reservations)
    for subnet, address in zip(subnet_ids, addresses, strict=True):
        assert reservations[subnet]["reservationType"] == "explicit"
        assert ipaddress.ip_address(address) in ipaddress.ip_network(reservations[subnet]["cidrBlock"])
    assert run.outputs["modelEndpoints"]["llama-3-1-8b"]["addresses"] == addresses


def test_the_frontend_group_admits_only_the_onprem_cidrs_to_the_inference_port() -> None:
    group = named(
        shipped_runs()["frankfurt"], "aws:ec2/securityGroup:SecurityGroup", "frankfurt-model-endpoints-nlb-sg"
    )
    assert group.inputs["ingress"] == [
        {
            "description": "Inference API from the on-prem networks (over the VPN)",
            "protocol": "tcp",
            "fromPort": 8000,
            "toPort": 8000,
            "cidrBlocks": ONPREM_CIDRS,
        }
    ]
    [egress] = group.inputs["egress"]
    assert (egress["fromPort"], egress["toPort"], egress["cidrBlocks"]) == (8000, 8000, ["10.20.0.0/16"])


def test_exposed_model_network_policy_admits_onprem_and_the_nlb_blocks_on_the_port_only() -> None:
    run = shipped_runs()["frankfurt"]
    namespaces, blocks, ports = ingress_sources(
        named(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "llama-3-1-8b-netpol")
    )
    # Client IP preservation: on-prem callers arrive with their own addresses; the NLB's health checks come from its
    # fixed addresses, i.e. from the reserved /28s (nothing else can hold an address there).
    assert namespaces == ["api-gateway"]
    assert blocks == ONPREM_CIDRS + [reserved_block(c) for c in FRANKFURT_PRIVATE]
    assert ports == [{"protocol": "TCP", "port": 8000}]


def test_unexposed_models_stay_cluster_ip_with_namespace_sources_only() -> None:
    run = shipped_runs()["dubai"]
    service = named(run, "kubernetes:core/v1:Service", "llama-3-1-8b-svc")
    assert service.inputs["spec"]["type"] == "ClusterIP" and "annotations" not in service.inputs["metadata"]
    assert ingress_sources(named(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "llama-3-1-8b-netpol"))[1] == []
    # Dubai's load balancer controller serves its front door only (README, "The front door"): no model endpoint.
    assert not [r for r in of_type(run, "aws:ec2/securityGroup:SecurityGroup") if "model-endpoints" in r.name]
    assert not [
        r
        for r in of_type(run, "kubernetes:core/v1:Service")
        if r.inputs["spec"].get("type") == "LoadBalancer" and r.inputs["metadata"]["namespace"] != "front-door"
    ]
    assert not of_type(run, "aws:route53/zone:Zone") and "modelEndpoints" not in run.outputs


def test_the_controller_runs_with_its_documented_policy_through_pod_identity() -> None:
    run = shipped_runs()["frankfurt"]
    release = named(run, "kubernetes:helm.sh/v3:Release", "frankfurt-lbc-release")
    assert release.inputs["chart"] == "aws-load-balancer-controller"
    assert release.inputs["version"] == "1.17.1"
    assert release.inputs["repositoryOpts"] == {"repo": "https://aws.github.io/eks-charts"}
    values = release.inputs["values"]
    vpc = of_type(run, "aws:ec2/vpc:Vpc")[0]
    assert values["clusterName"] == run.outputs["clusterName"] and values["region"] == "eu-central-1"
    assert values["vpcId"] == vpc.id
    assert values["serviceAccount"] == {"create": True, "name": "aws-load-balancer-controller"}
    assert values["additionalLabels"] == values["podLabels"]
    assert values["additionalLabels"]["data-residency"] == "eu" and values["enableServiceMutatorWebhook"] is False
    association = named(run, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "frankfurt-lbc-pod-identity")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        "kube-system",
        "aws-load-balancer-controller",
    )
    role = named(run, "aws:iam/role:Role", "frankfurt-lbc-role")
    assert role.urn in association.dependencies and association.inputs["roleArn"].startswith("arn:aws:iam::")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policy = named(run, "aws:iam/rolePolicy:RolePolicy", "frankfurt-lbc-policy")
    assert json.loads(policy.inputs["policy"]) == controller_iam_policy()
    assert len(policy.inputs["policy"]) <= 10240  # IAM's limit for a role's inline policies
    # The release waits for its credentials; the exposed Service waits for the controller.
    assert association.urn in release.dependencies
    service = named(run, "kubernetes:core/v1:Service", "llama-3-1-8b-svc")
    group = named(run, "aws:ec2/securityGroup:SecurityGroup", "frankfurt-model-endpoints-nlb-sg")
    model = named(run, "hybrid-llm-infra:inference:InferenceService", "llama-3-1-8b")
    # Depending on a component is depending on its children (the engine expands it).
    assert {release.urn, group.urn} <= set(model.dependencies) and service.parent == model.urn


def test_the_vendored_iam_policy_is_the_controllers_file_unchanged() -> None:
    assert hashlib.sha256(IAM_POLICY_FILE.read_bytes()).hexdigest() == IAM_POLICY_SHA256
    mirror = Path("/work/.mirror/kubernetes-sigs+aws-load-balancer-controller/repo")
    if not mirror.is_dir():
        pytest.skip("no local mirror of kubernetes-sigs/aws-load-balancer-controller to compare against")
    upstream = subprocess.run(
        ["git", "-C", str(mirror), "show", "v2.17.1:docs/install/iam_policy.json"], capture_output=True, check=True
    ).stdout
    assert upstream == IAM_POLICY_FILE.read_bytes()


def test_private_zone_record_points_at_the_nlb_hostname_and_the_resolver_admits_onprem_dns_only() -> None:
    run = shipped_runs()["frankfurt"]
    zone = named(run, "aws:route53/zone:Zone", "frankfurt-models-dns-zone")
    vpc = of_type(run, "aws:ec2/vpc:Vpc")[0]
    assert zone.inputs["name"] == "frankfurt.models.internal"
    assert zone.inputs["vpcs"] == [{"vpcId": vpc.id}]
    [record] = [r for r in of_type(run, "aws:route53/record:Record") if zone.urn in r.dependencies]
    # The target is the Service's status.loadBalancer.ingress[0].hostname (the mock answers as the controller would).
    assert record.inputs["name"] == "llama-3-1-8b.frankfurt.models.internal"
    assert record.inputs["type"] == "CNAME" and record.inputs["ttl"] == 60
    [target] = record.inputs["records"]
    assert target.startswith("k8s-llama-3-1-8b-svc-") and target.endswith(".elb.amazonaws.com")
    assert record.inputs["zoneId"].startswith("Z") and zone.urn in record.dependencies
    resolver = named(run, "aws:route53/resolverEndpoint:ResolverEndpoint", "frankfurt-models-dns-inbound")
    assert resolver.inputs["direction"] == "INBOUND"
    ips = [a["ip"] for a in resolver.inputs["ipAddresses"]]
    subnets = [a["subnetId"] for a in resolver.inputs["ipAddresses"]]
    assert len(set(subnets)) == 2
    assert ips == [
        block_address(reserved_block(FRANKFURT_PRIVATE[0]), 15),
        block_address(reserved_block(FRANKFURT_PRIVATE[1]), 14),
    ]
    group = named(run, "aws:ec2/securityGroup:SecurityGroup", "frankfurt-models-dns-resolver-sg")
    assert resolver.inputs["securityGroupIds"] == [group.id]
    assert sorted(
        (r["protocol"], r["fromPort"], r["toPort"], tuple(r["cidrBlocks"])) for r in group.inputs["ingress"]
    ) == [
        ("tcp", 53, 53, tuple(ONPREM_CIDRS)),
        ("udp", 53, 53, tuple(ONPREM_CIDRS)),
    ]
    forwarders = run.outputs["dnsForwarders"]
    assert forwarders["coredns"] == coredns_forwarder("frankfurt.models.internal", ips)
    assert f"forward . {ips[0]} {ips[1]}" in forwarders["coredns"]
    assert forwarders["unbound"] == unbound_forwarder("frankfurt.models.internal", ips)
    assert (
        run.outputs["modelEndpoints"]["llama-3-1-8b"]["url"] == "http://llama-3-1-8b.frankfurt.models.internal:8000/v1"
    )
    # The reserved block holds none of the addresses AWS keeps in a subnet (first 4, last 1).
    for cidr in FRANKFURT_PRIVATE:
        subnet, block = ipaddress.IPv4Network(cidr), ipaddress.IPv4Network(reserved_block(cidr))
        assert block.subnet_of(subnet) and subnet.broadcast_address not in block
        assert not any(subnet.network_address + i in block for i in range(4))


def test_onprem_renders_each_regions_forwarders() -> None:
    outputs = shipped_runs()["onprem"].outputs["awsModelDnsForwarders"]
    assert outputs["frankfurt"] == shipped_runs()["frankfurt"].outputs["dnsForwarders"]
    assert outputs["dubai"] is None  # Dubai exposes no model


def test_region_routes_only_to_onprem_never_to_the_other_region() -> None:
    for stack, other in (("frankfurt", "10.30.0.0/16"), ("dubai", "10.20.0.0/16")):
        run = shipped_runs()[stack]
        for route in of_type(run, "aws:ec2/route:Route"):
            assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
            assert "natGatewayId" in route.inputs or "gatewayId" in route.inputs
        assert not of_type(run, "aws:ec2/vpnConnectionRoute:VpnConnectionRoute")
        assert not [r for r in run.resources if other in json.dumps(r.inputs)], f"{stack} names {other}"


# --- on-prem: the site's load balancer for on-prem callers -----------------------------------------------------


def test_onprem_exposed_model_keeps_the_callers_address_and_admits_only_onprem() -> None:
    run = shipped_runs()["onprem"]
    service = named(run, "kubernetes:core/v1:Service", "llama-31-8b-svc")
    spec = service.inputs["spec"]
    assert spec["type"] == "LoadBalancer" and spec["externalTrafficPolicy"] == "Local"
    assert spec["loadBalancerSourceRanges"] == ONPREM_CIDRS and "loadBalancerClass" not in spec
    namespaces, blocks, _ = ingress_sources(
        named(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "llama-31-8b-netpol")
    )
    assert namespaces == ["api-gateway"] and blocks == ONPREM_CIDRS
    other = named(run, "kubernetes:core/v1:Service", "qwen25-32b-svc")
    assert other.inputs["spec"]["type"] == "ClusterIP"


def run_with(stack: str, **changes: Any) -> StackRun:
    base = PROJECT.stack(stack)
    config = dict(base.config)
    for key, change in changes.items():
        full = f"hybrid-llm-infra:{key}"
        value = json.loads(config[full])
        change(value)
        config[full] = json.dumps(value)
    references = {name: run.as_reference() for name, run in shipped_runs().items() if name != stack}
    return run_stack(PROJECT, dataclasses.replace(base, config=config), references)


def _set(**fields: Any) -> Any:
    return lambda kube: kube.update(fields)


def test_load_balancer_class_and_nodeport_reach_the_service() -> None:
    run = run_with("onprem", kubernetes=_set(serviceExposure={"loadBalancerClass": "metallb.io/metallb"}))
    assert run.ok, (run.problems, run.crash)
    spec = named(run, "kubernetes:core/v1:Service", "llama-31-8b-svc").inputs["spec"]
    assert spec["loadBalancerClass"] == "metallb.io/metallb"
    run = run_with("onprem", kubernetes=_set(serviceExposure={"type": "NodePort"}))
    assert run.ok, (run.problems, run.crash)
    spec = named(run, "kubernetes:core/v1:Service", "llama-31-8b-svc").inputs["spec"]
    assert spec["type"] == "NodePort" and spec["externalTrafficPolicy"] == "Local"
    assert "loadBalancerSourceRanges" not in spec and "loadBalancerClass" not in spec


def _expose(index: int, **exposure: Any) -> Any:
    return lambda kube: kube["models"][index].update(exposure=exposure)


@pytest.mark.parametrize(
    ("stack", "changes", "expected"),
    [
        (
            "onprem",
            {"kubernetes": _expose(0, awsSites=["frankfurt"])},
            "hybrid-llm-infra:kubernetes.models[0].exposure.awsSites: model 'llama-31-8b' is classified 'restricted': "
            "restricted data is never reachable from AWS",
        ),
        (
            "onprem",
            {"kubernetes": _expose(1, onprem=True, awsSites=["frankfurt"])},
            "hybrid-llm-infra:kubernetes.models[1].exposure.awsSites: model 'qwen25-32b' is classified 'restricted'",
        ),
        (
            "onprem",
            {"kubernetes": _set(serviceExposure={"loadBalancerClass": "Service.K8s/NLB/x"})},
            "hybrid-llm-infra:kubernetes.serviceExposure.loadBalancerClass: ",
        ),
        (
            "onprem",
            {"kubernetes": _set(serviceExposure={"loadBalancerClass": "-metallb"})},
            "hybrid-llm-infra:kubernetes.serviceExposure.loadBalancerClass: '-metallb' is not a qualified name",
        ),
        (
            "onprem",
            {"kubernetes": _set(serviceExposure={"type": "NodePort", "loadBalancerClass": "metallb.io/metallb"})},
            "hybrid-llm-infra:kubernetes.serviceExposure: loadBalancerClass may only be set with type LoadBalancer",
        ),
        (
            "frankfurt",
            {"inference": lambda models: models[0].update(dataClassification="restricted")},
            "hybrid-llm-infra:inference[0].dataClassification: restricted data stays on-prem",
        ),
        (
            "frankfurt",
            {"inference": lambda models: models.extend(dict(models[0], name=f"m{i}") for i in range(14))},
            "hybrid-llm-infra:inference: ",
        ),
    ],
)
def test_bad_exposure_stops_before_any_resource(stack: str, changes: dict[str, Any], expected: str) -> None:
    run = run_with(stack, **changes)
    assert run.crash is None, run.crash
    assert len(run.problems) == 1, run.problems
    assert run.problems[0].startswith(expected), run.problems
    assert run.resources == []


def test_a_restricted_onprem_stack_default_counts_as_restricted() -> None:
    """A model without its own classification inherits the on-prem stack's (restricted): refused toward AWS too."""

    def unclassified(kube: dict[str, Any]) -> None:
        kube["models"][0].pop("dataClassification")
        kube["models"][0]["exposure"] = {"awsSites": ["frankfurt"]}

    run = run_with("onprem", kubernetes=unclassified)
    assert run.resources == []
    assert [p.split(":")[1] for p in run.problems] == ["kubernetes.models[0].exposure.awsSites"]


def test_a_non_restricted_onprem_model_may_be_exposed_to_a_named_site() -> None:
    def internal(kube: dict[str, Any]) -> None:
        kube["models"][0].update(dataClassification="internal", exposure={"onprem": True, "awsSites": ["frankfurt"]})

    run = run_with("onprem", kubernetes=internal)
    assert run.ok, (run.problems, run.crash)
    _, blocks, _ = ingress_sources(named(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "llama-31-8b-netpol"))
    assert blocks == ["10.10.0.0/16", "10.20.0.0/16"]
    run = run_with("onprem", kubernetes=_expose(0, awsSites=["paris"]))
    assert run.resources == [] and "'paris' is not a site of addressPlan.awsSites" in run.problems[-1]
