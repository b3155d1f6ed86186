"""restricted-model-isolated through the real pack (gRPC): planted violations fail, the shipped stacks pass."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.analyzer import AnalyzedResource, PolicyPackProcess, ProviderInfo, make_urn
from infra.policy_check import analyzed_resources, policy_config, stack_policy_values
from infra.project import load_project
from residency.controls import CONTROLS
from tests.stack_runs import ROOT, shipped_runs

PACK = ROOT / "policies"
POLICY = "restricted-model-isolated"
ONPREM_CIDRS = ["10.10.0.0/16"]
AWS_CIDRS = ["10.20.0.0/16", "169.254.10.0/30", "169.254.10.4/30", "10.30.0.0/16", "169.254.20.0/30"]
RESTRICTED = {
    "data-residency": "eu",
    "data-classification": "restricted",
    "owner": "ml-platform",
    "cost-center": "cc-4710",
    "environment": "production",
}
ONPREM = ProviderInfo(
    urn=make_urn("p", "s", "pulumi:providers:kubernetes", "onprem"),
    type="pulumi:providers:kubernetes",
    name="onprem",
    properties={"context": "onprem-gpu"},
)
AWS = ProviderInfo(
    urn=make_urn("p", "s", "pulumi:providers:aws", "aws"),
    type="pulumi:providers:aws",
    name="aws",
    properties={"region": "eu-central-1"},
)


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(PACK) as process:
        yield process


def configure(pack: PolicyPackProcess, **overrides: Any) -> None:
    values = {
        "today": "2026-06-01",
        "stackJurisdiction": "EU",
        "onpremJurisdiction": "EU",
        "defaultAwsRegion": "",
        "onpremCidrs": ONPREM_CIDRS,
        "awsCidrs": AWS_CIDRS,
        **overrides,
    }
    pack.configure(policy_config(pack, values))


def k8s(kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None) -> AnalyzedResource:
    type_ = {"Service": "kubernetes:core/v1:Service", "NetworkPolicy": "kubernetes:networking.k8s.io/v1:NetworkPolicy"}[
        kind
    ]
    metadata = {"name": name, "namespace": "inference", "labels": RESTRICTED if labels is None else labels}
    return AnalyzedResource(
        urn=make_urn("p", "s", type_, name),
        type=type_,
        name=name,
        properties={"metadata": metadata, "spec": spec},
        provider=ONPREM,
    )


def netpol(*peers: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": 8000}]}
    if peers:
        rule["from"] = list(peers)
    return {"podSelector": {"matchLabels": {"app": "m"}}, "policyTypes": ["Ingress"], "ingress": [rule]}


NAMESPACE_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "api-gateway"}}}


def block(cidr: str, *excepted: str) -> dict[str, Any]:
    return {"ipBlock": {"cidr": cidr, **({"except": list(excepted)} if excepted else {})}}


def messages(pack: PolicyPackProcess, *resources: AnalyzedResource) -> list[str]:
    return [d.message for d in pack.analyze_stack(list(resources)) if d.policy_name == POLICY]


def test_the_control_is_mandatory_and_cites_transfer_articles() -> None:
    control = CONTROLS[POLICY]
    assert control.enforcement == "mandatory" and control.severity == "critical"
    assert {str(c) for c in control.citations} >= {"GDPR Art. 44-46", "UAE PDPL Art. 22-23"}


@pytest.mark.parametrize(
    ("peers", "expected"),
    [
        ((NAMESPACE_PEER, block("10.20.0.0/16")), "source 10.20.0.0/16 admits AWS ranges 10.20.0.0/16"),
        ((block("10.20.5.0/24"),), "source 10.20.5.0/24 admits AWS ranges 10.20.0.0/16"),
        ((block("169.254.10.0/29"),), "admits AWS ranges 169.254.10.0/30, 169.254.10.4/30"),
        ((block("0.0.0.0/0"),), "source 0.0.0.0/0 admits AWS ranges"),
        ((block("192.168.0.0/24"),), "source 192.168.0.0/24 is not inside the on-prem networks (10.10.0.0/16)"),
        ((), "ingress[0] admits every source (no 'from')"),
    ],
)
def test_a_restricted_network_policy_reaching_aws_fails(
    pack: PolicyPackProcess, peers: tuple[dict[str, Any], ...], expected: str
) -> None:
    configure(pack)
    [message] = messages(pack, k8s("NetworkPolicy", "m-netpol", netpol(*peers)))
    assert expected in message and "m-netpol (restricted)" in message


def test_a_restricted_network_policy_confined_to_onprem_passes(pack: PolicyPackProcess) -> None:
    configure(pack)
    assert messages(pack, k8s("NetworkPolicy", "m-netpol", netpol(NAMESPACE_PEER, block("10.10.4.0/24")))) == []
    # An open block whose exceptions cut out every AWS range still reaches beyond on-prem: reported for that.
    wide = block("10.0.0.0/8", "10.20.0.0/16", "10.30.0.0/16")
    [message] = messages(pack, k8s("NetworkPolicy", "m-netpol", netpol(wide)))
    assert "is not inside the on-prem networks" in message


def test_without_onprem_cidrs_no_address_rule_of_a_restricted_model_passes(pack: PolicyPackProcess) -> None:
    configure(pack, onpremCidrs=[], awsCidrs=[])
    [message] = messages(pack, k8s("NetworkPolicy", "m-netpol", netpol(block("10.10.0.0/16"))))
    assert "none configured (onpremCidrs)" in message
    assert messages(pack, k8s("NetworkPolicy", "m-netpol", netpol(NAMESPACE_PEER))) == []


def test_non_restricted_models_are_not_this_controls_business(pack: PolicyPackProcess) -> None:
    configure(pack)
    internal = {**RESTRICTED, "data-classification": "internal"}
    assert messages(pack, k8s("NetworkPolicy", "m-netpol", netpol(block("10.20.0.0/16")), internal)) == []


def service(**spec: Any) -> dict[str, Any]:
    return {"selector": {"app": "m"}, "ports": [{"port": 8000, "targetPort": "http", "protocol": "TCP"}], **spec}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (service(type="LoadBalancer", loadBalancerSourceRanges=ONPREM_CIDRS), "without externalTrafficPolicy Local"),
        (service(type="NodePort", externalTrafficPolicy="Cluster"), "type NodePort without externalTrafficPolicy"),
        (service(type="LoadBalancer", externalTrafficPolicy="Local"), "without loadBalancerSourceRanges"),
        (
            service(type="LoadBalancer", externalTrafficPolicy="Local", loadBalancerSourceRanges=["10.30.0.0/16"]),
            "loadBalancerSourceRanges: source 10.30.0.0/16 admits AWS ranges 10.30.0.0/16",
        ),
        (service(externalIPs=["10.10.9.9"]), "type ClusterIP without externalTrafficPolicy Local"),
    ],
)
def test_a_restricted_service_exposed_toward_aws_fails(
    pack: PolicyPackProcess, spec: dict[str, Any], expected: str
) -> None:
    configure(pack)
    [message] = messages(pack, k8s("Service", "m-svc", spec))
    assert expected in message


def test_a_restricted_service_for_onprem_callers_passes(pack: PolicyPackProcess) -> None:
    configure(pack)
    onprem_lb = service(type="LoadBalancer", externalTrafficPolicy="Local", loadBalancerSourceRanges=ONPREM_CIDRS)
    assert messages(pack, k8s("Service", "m-svc", onprem_lb)) == []
    assert messages(pack, k8s("Service", "m-svc", service(type="ClusterIP"))) == []


def route(name: str, **props: Any) -> AnalyzedResource:
    return AnalyzedResource(
        urn=make_urn("p", "s", "aws:ec2/route:Route", name),
        type="aws:ec2/route:Route",
        name=name,
        properties={"routeTableId": "rtb-1", **props},
        provider=AWS,
    )


VPC = AnalyzedResource(
    urn=make_urn("p", "s", "aws:ec2/vpc:Vpc", "vpc"),
    type="aws:ec2/vpc:Vpc",
    name="vpc",
    properties={"cidrBlock": "10.20.0.0/16"},
    provider=AWS,
)


def test_a_route_toward_the_other_regions_vpc_fails(pack: PolicyPackProcess) -> None:
    configure(pack)
    [message] = messages(pack, VPC, route("to-dubai", destinationCidrBlock="10.30.0.0/16", gatewayId="vgw-1"))
    assert "route to 10.30.0.0/16 reaches another AWS site's VPC (10.30.0.0/16)" in message
    [message] = messages(pack, VPC, route("all-via-vgw", destinationCidrBlock="0.0.0.0/0", gatewayId="vgw-1"))
    assert "all-via-vgw" in message
    # The NAT default route, and routes to on-prem, are what a region has.
    assert messages(pack, VPC, route("nat", destinationCidrBlock="0.0.0.0/0", natGatewayId="nat-1")) == []
    assert messages(pack, VPC, route("onprem", destinationCidrBlock="10.10.0.0/16", gatewayId="vgw-1")) == []


# --- the shipped stacks, and a planted violation in them --------------------------------------------------------


def stack_values(stack: str) -> dict[str, Any]:
    project = load_project(ROOT)
    configs = {name: project.stack(name).config for name in project.stack_names()}
    return stack_policy_values(configs[stack], configs)


def test_infra_check_hands_the_address_plan_to_the_pack() -> None:
    values = stack_values("onprem")
    assert values["onpremCidrs"] == ONPREM_CIDRS
    assert set(values["awsCidrs"]) == {
        "10.20.0.0/16",
        "169.254.10.0/30",
        "169.254.10.4/30",
        "10.30.0.0/16",
        "169.254.20.0/30",
        "169.254.20.4/30",
    }


@pytest.mark.parametrize("stack", ["frankfurt", "dubai", "onprem"])
def test_the_shipped_stacks_pass(pack: PolicyPackProcess, stack: str) -> None:
    pack.configure(policy_config(pack, stack_values(stack)))
    assert messages(pack, *analyzed_resources(shipped_runs()[stack])) == []


def _planted(change: Any) -> list[AnalyzedResource]:
    resources = copy.deepcopy(analyzed_resources(shipped_runs()["onprem"]))
    hits = [r for r in resources if r.name in ("llama-31-8b-svc", "llama-31-8b-netpol")]
    assert len(hits) == 2
    for resource in hits:
        change(resource)
    return resources


def test_a_planted_aws_source_in_the_shipped_onprem_stack_fails(pack: PolicyPackProcess) -> None:
    pack.configure(policy_config(pack, stack_values("onprem")))

    def admit_frankfurt(resource: AnalyzedResource) -> None:
        spec = resource.properties["spec"]
        if resource.name.endswith("-netpol"):
            spec["ingress"][0]["from"].append({"ipBlock": {"cidr": "10.20.0.0/16"}})
        else:
            spec["loadBalancerSourceRanges"] = [*spec["loadBalancerSourceRanges"], "10.20.0.0/16"]

    found = messages(pack, *_planted(admit_frankfurt))
    assert len(found) == 2 and all("admits AWS ranges 10.20.0.0/16" in m for m in found), found


def test_a_planted_cluster_traffic_policy_in_the_shipped_onprem_stack_fails(pack: PolicyPackProcess) -> None:
    pack.configure(policy_config(pack, stack_values("onprem")))

    def cluster_policy(resource: AnalyzedResource) -> None:
        if resource.name.endswith("-svc"):
            resource.properties["spec"]["externalTrafficPolicy"] = "Cluster"

    [message] = messages(pack, *_planted(cluster_policy))
    assert "llama-31-8b-svc (restricted): type LoadBalancer without externalTrafficPolicy Local" in message


def test_the_pack_schema_declares_the_address_plan_keys(pack: PolicyPackProcess) -> None:
    [policy] = [p for p in pack.info().policies if p.name == POLICY]
    assert policy.config_schema is not None
    assert {"onpremCidrs", "awsCidrs"} <= set(policy.config_schema.properties)
    assert json.dumps(policy.config_schema.properties["awsCidrs"]["default"]) == "[]"


def test_no_open_inference_ingress_sees_the_nlb_group_used_only_through_the_service(pack: PolicyPackProcess) -> None:
    """The frontend group is used by nothing AWS knows of until the controller builds the NLB: the pack counts the
    Service's controller annotation (and its dependency on the group) as the use; without both, it fails the group."""
    pack.configure(policy_config(pack, stack_values("frankfurt")))
    resources = analyzed_resources(shipped_runs()["frankfurt"])

    def unused(diagnostics: list[Any]) -> list[str]:
        return [d.message for d in diagnostics if d.policy_name == "no-open-inference-ingress"]

    assert unused(pack.analyze_stack(resources)) == []
    [group] = [r for r in resources if r.name == "frankfurt-model-endpoints-nlb-sg"]
    planted = []
    for resource in copy.deepcopy(resources):
        if resource.name == "llama-3-1-8b-svc":
            resource.properties["metadata"]["annotations"].pop(
                "service.beta.kubernetes.io/aws-load-balancer-security-groups"
            )
            resource = dataclasses.replace(
                resource, dependencies=tuple(d for d in resource.dependencies if d != group.urn)
            )
        planted.append(resource)
    [message] = unused(pack.analyze_stack(planted))
    assert "frankfurt-model-endpoints-nlb-sg: admits traffic to inference port(s) [8000]" in message


# --- a site's public front-door entry: the internet may come in, no AWS range may -------------------------

PUBLIC_ENTRY = {**RESTRICTED, "hybrid-llm-infra.io/public-entry": "front-door"}
EVERY_AWS_RANGE = [*AWS_CIDRS, "169.254.20.4/30"]


@pytest.mark.parametrize(
    ("peer", "labels", "expected"),
    [
        (block("0.0.0.0/0", *EVERY_AWS_RANGE), PUBLIC_ENTRY, None),
        (block("0.0.0.0/0"), PUBLIC_ENTRY, "admits AWS ranges 10.20.0.0/16, 169.254.10.0/30"),
        (block("0.0.0.0/0", *EVERY_AWS_RANGE[:-1]), PUBLIC_ENTRY, "admits AWS ranges 169.254.20.4/30"),
        (block("54.0.0.0/8"), PUBLIC_ENTRY, None),  # a public range reaching no AWS site's addresses
        # Without the label the same rule is an ordinary restricted rule: the internet is not on-prem.
        (block("0.0.0.0/0", *EVERY_AWS_RANGE), RESTRICTED, "is not inside the on-prem networks"),
    ],
)
def test_a_public_entry_may_admit_the_internet_but_no_aws_range(
    pack: PolicyPackProcess, peer: dict[str, Any], labels: dict[str, str], expected: str | None
) -> None:
    configure(pack, awsCidrs=EVERY_AWS_RANGE)
    found = messages(pack, entry("NetworkPolicy", netpol(peer), labels, "front-door"))
    if expected is None:
        assert found == []
    else:
        [message] = found
        assert expected in message, message


def entry(kind: str, spec: dict[str, Any], labels: dict[str, str], namespace: str) -> AnalyzedResource:
    resource = k8s(kind, "front-door", spec, labels)
    resource.properties["metadata"]["namespace"] = namespace
    return resource


def test_the_public_entry_label_counts_only_in_the_front_door_namespace(pack: PolicyPackProcess) -> None:
    """A restricted model's own policy or Service cannot claim the label to put itself on the internet."""
    from stacks.onprem_front_door import public_ranges_except

    configure(pack, awsCidrs=EVERY_AWS_RANGE)
    open_policy = netpol(block("0.0.0.0/0", *EVERY_AWS_RANGE))
    open_service = service(
        type="LoadBalancer",
        externalTrafficPolicy="Local",
        loadBalancerSourceRanges=public_ranges_except(EVERY_AWS_RANGE),
    )
    for kind, spec in (("NetworkPolicy", open_policy), ("Service", open_service)):
        assert messages(pack, entry(kind, spec, PUBLIC_ENTRY, "front-door")) == [], kind
        found = messages(pack, entry(kind, spec, PUBLIC_ENTRY, "inference"))
        assert found and all("is not inside the on-prem networks" in m for m in found), found


def test_a_public_entry_service_must_leave_the_aws_ranges_out_and_keep_callers_addresses(
    pack: PolicyPackProcess,
) -> None:
    from stacks.onprem_front_door import public_ranges_except

    configure(pack, awsCidrs=EVERY_AWS_RANGE)
    complement = public_ranges_except(EVERY_AWS_RANGE)
    ok = service(type="LoadBalancer", externalTrafficPolicy="Local", loadBalancerSourceRanges=complement)
    assert messages(pack, entry("Service", ok, PUBLIC_ENTRY, "front-door")) == []
    everywhere = {**ok, "loadBalancerSourceRanges": ["0.0.0.0/0"]}
    [message] = messages(pack, entry("Service", everywhere, PUBLIC_ENTRY, "front-door"))
    assert "loadBalancerSourceRanges: source 0.0.0.0/0 admits AWS ranges" in message
    [message] = messages(pack, entry("Service", {**ok, "externalTrafficPolicy": "Cluster"}, PUBLIC_ENTRY, "front-door"))
    assert "without externalTrafficPolicy Local" in message
    # The complement is not on-prem: only the label makes it an entry the control accepts.
    assert messages(pack, entry("Service", ok, RESTRICTED, "front-door"))


def test_a_planted_aws_range_in_the_shipped_onprem_entry_fails(pack: PolicyPackProcess) -> None:
    pack.configure(policy_config(pack, stack_values("onprem")))
    resources = copy.deepcopy(analyzed_resources(shipped_runs()["onprem"]))
    [entry] = [r for r in resources if r.name == "onprem-envoy-gateway-admit-entry"]
    [peer] = entry.properties["spec"]["ingress"][0]["from"]
    peer["ipBlock"]["except"] = [c for c in peer["ipBlock"]["except"] if c != "10.20.0.0/16"]
    [message] = messages(pack, *resources)
    assert "onprem-envoy-gateway-admit-entry (restricted)" in message and "admits AWS ranges 10.20.0.0/16" in message
