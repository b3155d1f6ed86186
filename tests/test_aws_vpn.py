"""The AWS side of the VPN: the component under mocks, the shipped stacks' VPN, and bad VPN config."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from components.aws_vpn import AwsSiteToSiteVpn, AwsSiteToSiteVpnArgs, VpnTunnelOptions
from infra.engine import redact, run_stack
from infra.project import load_project
from stackconfig import parse_stack_config
from tests.conftest import MockStack
from tests.stack_runs import ROOT, shipped_runs
from tests.test_config import problems_of, stack_config, with_object

SECRET_KEY = "4dabf18193072939515e22adb298388d"
AWS_PSK = re.compile(r"^[A-Za-z1-9._][A-Za-z0-9._]{7,63}$")
VPN = "aws:ec2/vpnConnection:VpnConnection"


def vpn_args(**overrides: Any) -> AwsSiteToSiteVpnArgs:
    base: dict[str, Any] = dict(
        vpc_id="vpc-123",
        vpc_cidr="10.20.0.0/16",
        private_route_table_ids=["rtb-1", "rtb-2"],
        onprem_public_ip="198.51.100.10",
        onprem_bgp_asn=65010,
        onprem_cidrs=["10.10.0.0/16"],
        amazon_side_asn=64512,
        tunnel_inside_cidrs=["169.254.10.0/30", "169.254.10.4/30"],
        log_kms_key_arn="arn:aws:kms:eu-central-1:123456789012:key/k",
    )
    return AwsSiteToSiteVpnArgs(**{**base, **overrides})


def test_component_configures_both_tunnels_explicitly(mock_stack: MockStack) -> None:
    vpn = AwsSiteToSiteVpn("fra", vpn_args())
    (conn,) = mock_stack.of_type(VPN)
    inputs = conn.inputs
    assert inputs["staticRoutesOnly"] is False and inputs["type"] == "ipsec.1"
    # Route-based: AWS negotiates 0.0.0.0/0 for a BGP connection; BGP decides what crosses.
    assert (inputs["localIpv4NetworkCidr"], inputs["remoteIpv4NetworkCidr"]) == ("0.0.0.0/0", "0.0.0.0/0")
    for n, inside in ((1, "169.254.10.0/30"), (2, "169.254.10.4/30")):
        t = f"tunnel{n}"
        assert inputs[f"{t}IkeVersions"] == ["ikev2"]
        for phase in ("Phase1", "Phase2"):
            assert inputs[f"{t}{phase}EncryptionAlgorithms"] == ["AES256-GCM-16"]
            assert inputs[f"{t}{phase}IntegrityAlgorithms"] == ["SHA2-384", "SHA2-256"]
            assert inputs[f"{t}{phase}DhGroupNumbers"] == [20, 19, 21]
        assert inputs[f"{t}Phase2LifetimeSeconds"] < inputs[f"{t}Phase1LifetimeSeconds"] <= 28800
        assert inputs[f"{t}DpdTimeoutSeconds"] >= 30 and inputs[f"{t}DpdTimeoutAction"] == "restart"
        assert inputs[f"{t}StartupAction"] == "add"
        assert inputs[f"{t}InsideCidr"] == inside
        assert inputs[f"{t}PresharedKey"][SECRET_KEY] == "1b47061264138c4ac30d75fd1eb44270", "PSK must be secret"
        assert AWS_PSK.match(inputs[f"{t}PresharedKey"]["value"])
        log = inputs[f"{t}LogOptions"]["cloudwatchLogOptions"]
        assert log["logEnabled"] is True and log["logGroupArn"].startswith("arn:aws:logs:")
    groups = mock_stack.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) == 2 and all(g.inputs["kmsKeyId"].startswith("arn:aws:kms:") for g in groups)
    # Named explicitly under /aws/vendedlogs/ (CloudWatch Logs' resource-policy size limit).
    assert sorted(g.inputs["name"] for g in groups) == [
        "/aws/vendedlogs/hybrid-llm-infra/fra/vpn-tunnel1",
        "/aws/vendedlogs/hybrid-llm-infra/fra/vpn-tunnel2",
    ]
    assert len(mock_stack.of_type("aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation")) == 2
    (cgw,) = mock_stack.of_type("aws:ec2/customerGateway:CustomerGateway")
    assert (cgw.inputs["ipAddress"], cgw.inputs["bgpAsn"]) == ("198.51.100.10", "65010")
    (vgw,) = mock_stack.of_type("aws:ec2/vpnGateway:VpnGateway")
    assert (vgw.inputs["vpcId"], vgw.inputs["amazonSideAsn"]) == ("vpc-123", "64512")
    # No security group: one that nothing is attached to would filter nothing (the internal NLB brings its own).
    assert mock_stack.of_type("aws:ec2/securityGroup:SecurityGroup") == []
    assert "securityGroupId" not in mock_stack.resolve(vpn.stack_outputs()["vpn"])
    tunnel = vpn.tunnels[0]
    assert mock_stack.resolve(tunnel.customer_inside_address) == "169.254.10.2/30"
    assert mock_stack.resolve(tunnel.aws_inside_address) == "169.254.10.1/30"
    assert mock_stack.resolve(tunnel.aws_bgp_asn) == "64512"
    assert mock_stack.resolve(tunnel.outside_address).startswith("203.0.113.")
    assert mock_stack.is_secret(tunnel.preshared_key) and mock_stack.is_secret(vpn.preshared_keys)
    keys = mock_stack.resolve(vpn.preshared_keys)
    assert len(set(keys)) == 2 and all(AWS_PSK.match(k) for k in keys)
    parents = {r.parent for r in mock_stack.capture.resources.values() if r.type.startswith(("aws:", "random:"))}
    assert len(parents) == 1 and str(next(iter(parents))).endswith("AwsSiteToSiteVpn::fra")


def test_component_refuses_weak_options() -> None:
    with pytest.raises(ValueError, match="ike_encryption"):
        vpn_args(options=VpnTunnelOptions(phase1_encryption_algorithms=["AES128"]))
    with pytest.raises(ValueError, match="esp_lifetime_seconds"):
        vpn_args(options=VpnTunnelOptions(phase2_lifetime_seconds=3600, phase1_lifetime_seconds=3600))
    with pytest.raises(ValueError, match="tunnel_inside_cidrs"):
        vpn_args(tunnel_inside_cidrs=["169.254.10.0/30"])


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_shipped_tunnel_logs_go_to_vended_log_groups(stack: str) -> None:
    run = shipped_runs()[stack]
    groups = {r.urn: r for r in run.resources if r.type == "aws:cloudwatch/logGroup:LogGroup"}
    tunnel_groups = [g for g in groups.values() if g.name.startswith(f"{stack}-vpn-tunnel")]
    assert sorted(g.inputs["name"] for g in tunnel_groups) == [
        f"/aws/vendedlogs/hybrid-llm-infra/{stack}-vpn/vpn-tunnel{n}" for n in (1, 2)
    ]
    (conn,) = [r for r in run.resources if r.type == VPN]
    for n, group in zip((1, 2), sorted(tunnel_groups, key=lambda g: g.name), strict=True):
        options = conn.inputs[f"tunnel{n}LogOptions"]["cloudwatchLogOptions"]
        assert group.urn in conn.dependencies and options["logEnabled"] is True
        assert options["logGroupArn"].endswith(f":log-group:{group.inputs['name']}"), options


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_shipped_stacks_export_tunnels_and_keep_keys_secret(stack: str) -> None:
    run = shipped_runs()[stack]
    assert run.ok, run.problems
    tunnels = run.outputs["vpn"]["tunnels"]
    assert [t["customerInsideAddress"] for t in tunnels] == {
        "frankfurt": ["169.254.10.2/30", "169.254.10.6/30"],
        "dubai": ["169.254.20.2/30", "169.254.20.6/30"],
    }[stack]
    assert "vpnPresharedKeys" in run.secret_outputs and "vpn" not in run.secret_outputs
    assert "PresharedKey" not in json.dumps(run.outputs["vpn"])
    printed = json.dumps([redact(r.inputs) for r in run.resources])
    for key in run.outputs["vpnPresharedKeys"]:
        assert key not in printed


def test_inside_cidrs_unique_across_the_project() -> None:
    def dup(value: Any) -> None:
        value["awsSites"]["dubai"]["tunnelInsideCidrs"][0] = "169.254.10.4/30"

    problems = problems_of(with_object(stack_config("frankfurt"), "hybrid-llm-infra:addressPlan", dup))
    assert any(
        p.startswith("hybrid-llm-infra:addressPlan.awsSites.frankfurt.tunnelInsideCidrs[1]: 169.254.10.4/30 overlaps")
        or p.startswith("hybrid-llm-infra:addressPlan.awsSites.dubai.tunnelInsideCidrs[0]")
        for p in problems
    ), problems


def test_reserved_inside_cidr_is_refused() -> None:
    def reserved(value: Any) -> None:
        value["awsSites"]["frankfurt"]["tunnelInsideCidrs"][0] = "169.254.169.252/30"

    problems = problems_of(with_object(stack_config("frankfurt"), "hybrid-llm-infra:addressPlan", reserved))
    assert any("tunnelInsideCidrs[0]: 169.254.169.252/30 is reserved by AWS" in p for p in problems), problems


def test_onprem_cidr_overlapping_a_vpc_is_refused() -> None:
    def overlap(value: Any) -> None:
        value["onprem"]["cidrs"] = ["10.20.128.0/17"]

    problems = problems_of(with_object(stack_config("onprem"), "hybrid-llm-infra:addressPlan", overlap))
    assert any("awsSites.frankfurt.vpcCidr: 10.20.0.0/16 overlaps" in p and "onprem.cidrs[0]" in p for p in problems)


@pytest.mark.parametrize(
    ("vpn", "expected"),
    [
        (
            {"phase1LifetimeSeconds": 3600, "phase2LifetimeSeconds": 3600},
            "hybrid-llm-infra:vpn.phase2LifetimeSeconds: 3600 must be shorter than phase1LifetimeSeconds (3600)",
        ),
        (
            {"presharedKeys": ["0starts.with_zero", "Fine.key_123"]},
            "hybrid-llm-infra:vpn.presharedKeys[0]: breaks AWS's rules: 8-64 characters of letters, digits, '.' "
            "and '_', not starting with '0'",
        ),
        (
            {"presharedKeys": ["has-a-dash-in-it", "Fine.key_123"]},
            "hybrid-llm-infra:vpn.presharedKeys[0]: breaks AWS's rules",
        ),
        ({"presharedKeys": ["Fine.key_123"]}, "hybrid-llm-infra:vpn.presharedKeys: needs exactly 2 keys"),
        ({"phase1DhGroupNumbers": [14]}, "hybrid-llm-infra:vpn.phase1DhGroupNumbers[0]"),
        ({"phase1EncryptionAlgorithms": ["AES128"]}, "hybrid-llm-infra:vpn.phase1EncryptionAlgorithms[0]"),
        ({"dpdTimeoutSeconds": 10}, "hybrid-llm-infra:vpn.dpdTimeoutSeconds"),
        ({"ikeVersions": ["ikev1"]}, "hybrid-llm-infra:vpn.ikeVersions: unknown key"),
        # Gone with the unattached security group; the internal load balancer will own its ports.
        ({"inferencePorts": [8000]}, "hybrid-llm-infra:vpn.inferencePorts: unknown key"),
        ({"phase2LifetimeSeconds": 7200}, "hybrid-llm-infra:vpn.phase2LifetimeSeconds"),
    ],
)
def test_bad_vpn_config_names_the_key(vpn: dict[str, Any], expected: str) -> None:
    raw = {**stack_config("frankfurt"), "hybrid-llm-infra:vpn": json.dumps(vpn)}
    problems = problems_of(raw)
    assert any(p.startswith(expected) for p in problems), problems
    for key in vpn.get("presharedKeys", []):
        assert all(key not in p for p in problems), "a PSK must never appear in an error"


def test_bad_vpn_config_registers_nothing() -> None:
    project = load_project(ROOT)
    stack = project.stack("frankfurt")
    bad = {"presharedKeys": ["0bad", "Fine.key_123"], "phase1LifetimeSeconds": 900, "phase2LifetimeSeconds": 900}
    config = {**stack.config, "hybrid-llm-infra:vpn": json.dumps(bad)}
    run = run_stack(project, dataclasses.replace(stack, config=config))
    assert run.crash is None, run.crash
    keys = [p.split(":", 2)[1] for p in run.problems]
    assert {"vpn.phase2LifetimeSeconds", "vpn.presharedKeys[0]", "vpn.rekeyMarginTimeSeconds"} == set(keys), keys
    assert "0bad" not in " ".join(run.problems)
    assert run.resources == []


def test_inside_cidrs_must_be_two_per_site() -> None:
    def one_cidr(value: Any) -> None:
        value["awsSites"]["frankfurt"]["tunnelInsideCidrs"] = ["169.254.10.0/30"]

    problems = problems_of(with_object(stack_config("frankfurt"), "hybrid-llm-infra:addressPlan", one_cidr))
    assert any(
        p.startswith("hybrid-llm-infra:addressPlan.awsSites.frankfurt.tunnelInsideCidrs: the VPN needs")
        for p in problems
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # An on-prem ASN equal to an Amazon-side ASN: eBGP between one AS is no eBGP.
        (
            lambda p: p["onprem"].update(bgpAsn=64513),
            "hybrid-llm-infra:addressPlan.onprem.bgpAsn: 64513 equals "
            "hybrid-llm-infra:addressPlan.awsSites.dubai.amazonSideAsn; the on-prem ASN must differ",
        ),
        # Public ASNs (someone else's), AWS's reserved 7224, and the gap between the two private ranges.
        (
            lambda p: p["onprem"].update(bgpAsn=7224),
            "hybrid-llm-infra:addressPlan.onprem.bgpAsn: 7224 is not a private",
        ),
        (
            lambda p: p["onprem"].update(bgpAsn=65535),
            "hybrid-llm-infra:addressPlan.onprem.bgpAsn: 65535 is not a private ASN; allowed: 64512-65534 or "
            "4200000000-4294967294",
        ),
        (
            lambda p: p["awsSites"]["frankfurt"].update(amazonSideAsn=100000),
            "hybrid-llm-infra:addressPlan.awsSites.frankfurt.amazonSideAsn: 100000 is not a private ASN; AWS allows",
        ),
        (
            lambda p: p["awsSites"]["frankfurt"].update(amazonSideAsn=64000),
            "hybrid-llm-infra:addressPlan.awsSites.frankfurt.amazonSideAsn: ",
        ),
    ],
)
def test_bad_asn_names_the_key(change: Any, expected: str) -> None:
    for stack in ("frankfurt", "onprem"):  # the plan is shared: every stack refuses it
        problems = problems_of(with_object(stack_config(stack), "hybrid-llm-infra:addressPlan", change))
        assert any(p.startswith(expected) for p in problems), (stack, problems)


def test_four_byte_private_asns_are_accepted() -> None:
    def four_byte(value: Any) -> None:
        value["onprem"]["bgpAsn"] = 4200000001
        value["awsSites"]["frankfurt"]["amazonSideAsn"] = 4294967294

    config = parse_stack_config(with_object(stack_config("frankfurt"), "hybrid-llm-infra:addressPlan", four_byte))
    assert config.address_plan.onprem.bgp_asn == 4200000001


def test_bad_asn_registers_nothing() -> None:
    project = load_project(ROOT)
    stack = project.stack("onprem")
    plan = json.loads(stack.config["hybrid-llm-infra:addressPlan"])
    plan["onprem"]["bgpAsn"] = 64512
    config = {**stack.config, "hybrid-llm-infra:addressPlan": json.dumps(plan)}
    run = run_stack(project, dataclasses.replace(stack, config=config))
    assert run.crash is None, run.crash
    assert any(p.startswith("hybrid-llm-infra:addressPlan.onprem.bgpAsn: 64512 equals") for p in run.problems)
    assert run.resources == []


def test_several_onprem_cidrs_are_fine_with_route_based_tunnels() -> None:
    def two(value: Any) -> None:
        value["onprem"]["cidrs"] = ["10.10.0.0/16", "10.11.0.0/16"]

    parse_stack_config(with_object(stack_config("frankfurt"), "hybrid-llm-infra:addressPlan", two))
