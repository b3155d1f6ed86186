"""The on-prem VPN gateway: rendered from the AWS stacks' exports, secret end to end, least privilege."""

from __future__ import annotations

import copy
import json
from typing import Any

import pulumi
import pytest

from components.onprem_vpn_gateway import (
    VICI_ANSWER_SECONDS,
    NodeTaint,
    OnPremVpnGateway,
    OnPremVpnGatewayArgs,
    VpnPeerArgs,
)
from components.vpn.gateway import GatewayBgp, PeerExport, render_gateway_configs
from infra.engine import redact
from stackconfig import OnPremStackConfig, parse_stack_config
from tests.conftest import MockStack
from tests.stack_runs import shipped_runs
from tests.test_config import problems_of, stack_config
from tests.test_vpn_end_to_end import rendered_gateway_files

SECRET_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def onprem(type_token: str, name: str) -> dict:  # type: ignore[type-arg]
    run = shipped_runs()["onprem"]
    (found,) = [r for r in run.resources if r.type == type_token and r.name == name]
    return found.inputs


def test_gateway_config_is_secret_in_the_secret_and_the_outputs() -> None:
    run = shipped_runs()["onprem"]
    assert run.ok, (run.problems, run.crash)
    secret = onprem("kubernetes:core/v1:Secret", "onprem-vpn-config")
    assert secret["stringData"][SECRET_KEY] == SECRET_SIG
    assert secret["metadata"]["namespace"] == "vpn-gateway"
    assert "vpnSwanctlConf" in run.secret_outputs
    assert "vpnTunnels" not in run.secret_outputs and "vpnStrongswanConf" not in run.secret_outputs
    assert "vpnFrrConf" not in run.secret_outputs and "vpnXfrmInterfacesScript" not in run.secret_outputs
    keys = [k for stack in ("frankfurt", "dubai") for k in shipped_runs()[stack].outputs["vpnPresharedKeys"]]
    assert len(keys) == 4
    conf = run.outputs["vpnSwanctlConf"]
    printed = json.dumps([redact(r.inputs) for r in run.resources]) + json.dumps(run.outputs["vpnTunnels"])
    printed += run.outputs["vpnStrongswanConf"] + run.outputs["vpnFrrConf"] + run.outputs["vpnXfrmInterfacesScript"]
    for key in keys:
        assert f"0x{key.encode().hex()}" in conf  # the rendered config carries every tunnel's key...
        assert key not in printed and key.encode().hex() not in printed  # ...and nothing else shows one


def test_one_connection_per_tunnel_from_the_peer_outputs() -> None:
    run = shipped_runs()["onprem"]
    tunnels = run.outputs["vpnTunnels"]
    assert [t["name"] for t in tunnels] == ["frankfurt-t1", "frankfurt-t2", "dubai-t1", "dubai-t2"]
    for tunnel, stack, index in zip(tunnels, ["frankfurt", "frankfurt", "dubai", "dubai"], [0, 1, 0, 1], strict=True):
        aws = shipped_runs()[stack].outputs["vpn"]["tunnels"][index]
        assert tunnel["peer"] == aws["outsideAddress"]
        assert tunnel["insideAddress"] == aws["customerInsideAddress"]
    conf = run.outputs["vpnSwanctlConf"]
    assert conf.count("version = 2") == 4
    assert conf.count("proposals = aes256gcm16-prfsha384-prfsha256-ecp521-ecp384-ecp256") == 4
    assert "local_addrs = 198.51.100.10" in conf and "start_action = start" in conf
    assert "retransmit_timeout = 5.000" in run.outputs["vpnStrongswanConf"]


def test_a_hung_charon_is_restarted_by_the_liveness_probe() -> None:
    """The probe asks charon over vici and is bounded inside the container; whether it really fails on a hung
    charon is shown against a real one in test_vpn_end_to_end.py."""
    containers = onprem("kubernetes:apps/v1:DaemonSet", "onprem-vpn-daemonset")["spec"]["template"]["spec"][
        "containers"
    ]
    (container,) = [c for c in containers if c["name"] == "charon"]
    command = ["timeout", "-s", "KILL", str(VICI_ANSWER_SECONDS), "swanctl", "--stats"]
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container[kind]
        assert probe["exec"]["command"] == command, kind
        # kubelet's own timeout is longer than the bound inside: the probe fails by the bound, not by kubelet.
        assert probe["timeoutSeconds"] > VICI_ANSWER_SECONDS, kind
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] <= 30  # restarted within AWS's DPD timeout
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60  # charon gets a minute to come up


def test_the_taint_comes_from_the_config(mock_stack: MockStack) -> None:
    run = shipped_runs()["frankfurt"]
    OnPremVpnGateway(
        "gw",
        OnPremVpnGatewayArgs(
            local_public_ip="198.51.100.10",
            peers=[VpnPeerArgs("frankfurt", run.outputs["vpn"], run.outputs["vpnPresharedKeys"], ["10.20.0.0/16"])],
            namespace="vpn-gateway",
            image="registry.example.com/strongswan:5.9.14",
            frr_image="registry.example.com/frr:8.4.4",
            bgp=GatewayBgp(local_asn=65010, advertise=["10.10.0.0/16"]),
            node_selector_label="edge",
            node_taint=NodeTaint(key="dedicated", value="vpn", effect="NoExecute"),
        ),
    )
    (ds,) = mock_stack.of_type("kubernetes:apps/v1:DaemonSet")
    pod = ds.inputs["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"edge": "true"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "vpn", "effect": "NoExecute"}]


@pytest.mark.parametrize(
    ("gateway", "expected"),
    [
        ({"nodeTaint": {"effect": "NoRun"}}, "hybrid-llm-infra:vpnGateway.nodeTaint.effect: "),
        ({"nodeTaint": {"key": "bad key"}}, "hybrid-llm-infra:vpnGateway.nodeTaint.key: "),
        ({"nodeTaint": {"value": "-x"}}, "hybrid-llm-infra:vpnGateway.nodeTaint.value: "),
        ({"nodeTaint": {"operator": "Exists"}}, "hybrid-llm-infra:vpnGateway.nodeTaint.operator: unknown key"),
        ({"nodeSelectorLabel": "edge nodes"}, "hybrid-llm-infra:vpnGateway.nodeSelectorLabel: "),
        ({"image": "docker.io/strongx509/strongswan"}, "hybrid-llm-infra:vpnGateway.image: must be an image reference"),
        ({"image": "strongswan:latest"}, "hybrid-llm-infra:vpnGateway.image: ':latest' is not a pinned version"),
    ],
)
def test_bad_gateway_config_names_the_key(gateway: dict[str, Any], expected: str) -> None:
    problems = problems_of({**stack_config("onprem"), "hybrid-llm-infra:vpnGateway": json.dumps(gateway)})
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    "image",
    [
        "docker.io/strongx509/strongswan:5.9.14@sha256:" + "0f" * 32,  # repository:tag@sha256:<64 hex>
        "docker.io/strongx509/strongswan@sha256:" + "0f" * 32,
        "registry.internal:5000/mirror/strongswan:5.9.14@sha256:" + "0f" * 32,  # a mirror with a port
    ],
)
def test_gateway_image_may_be_pinned_by_tag_and_digest(image: str) -> None:
    raw = {**stack_config("onprem"), "hybrid-llm-infra:vpnGateway": json.dumps({"image": image})}
    config = parse_stack_config(raw)
    assert isinstance(config, OnPremStackConfig) and config.vpn_gateway.image == image


SET_OPTIONS = [f"phase{n}{kind}" for n in (1, 2) for kind in ("EncryptionAlgorithms", "IntegrityAlgorithms")]
SET_OPTIONS += ["phase1DhGroupNumbers", "phase2DhGroupNumbers"]


def test_gateway_config_does_not_depend_on_the_order_aws_reads_back() -> None:
    """AWS keeps the tunnel algorithm lists as sets (TypeSet): a read-back in any other order must
    render the very same swanctl.conf, proposals strongest first."""
    shipped = shipped_runs()["onprem"].outputs["vpnSwanctlConf"]
    peers = []
    for stack in ("frankfurt", "dubai"):
        outputs = shipped_runs()[stack].outputs
        vpn = copy.deepcopy(outputs["vpn"])
        for tunnel in vpn["tunnels"]:
            assert all(len(tunnel[key]) >= 1 for key in SET_OPTIONS)
            for key in SET_OPTIONS:
                tunnel[key] = list(reversed(tunnel[key]))
        accept = [{"frankfurt": "10.20.0.0/16", "dubai": "10.30.0.0/16"}[stack]]
        peers.append(PeerExport(stack, vpn, outputs["vpnPresharedKeys"], accept))
    assert [len(t["phase1DhGroupNumbers"]) for p in peers if p.vpn for t in p.vpn["tunnels"]] == [3, 3, 3, 3]
    files = render_gateway_configs("198.51.100.10", peers, GatewayBgp(local_asn=65010, advertise=["10.10.0.0/16"]))
    swanctl = files.swanctl_conf
    assert swanctl == shipped
    assert files.frr_conf == shipped_runs()["onprem"].outputs["vpnFrrConf"]
    assert "ecp521-ecp384-ecp256" in swanctl and "ecp256-ecp384" not in swanctl


def test_daemon_set_runs_on_labelled_nodes_with_only_net_admin() -> None:
    ds = onprem("kubernetes:apps/v1:DaemonSet", "onprem-vpn-daemonset")
    assert ds["metadata"]["namespace"] == "vpn-gateway"
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["nodeSelector"] == {"node-role.hybrid-llm-infra/vpn-gateway": "true"}
    # The edge nodes' taint (the config's default) is tolerated, and only that one.
    assert pod["tolerations"] == [
        {"key": "node-role.hybrid-llm-infra/vpn-gateway", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert pod["automountServiceAccountToken"] is False
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"charon", "frr"}
    caps = {
        "charon": ["NET_ADMIN", "NET_BIND_SERVICE"],
        # zebra's routes, BGP's port 179, FRR's raw sockets, and the switch to the frr user.
        "frr": ["NET_ADMIN", "NET_BIND_SERVICE", "NET_RAW", "SETUID", "SETGID", "CHOWN"],
    }
    for name, container in containers.items():
        ctx = container["securityContext"]
        assert ctx["capabilities"] == {"drop": ["ALL"], "add": caps[name]}, name
        assert ctx["privileged"] is False and ctx["allowPrivilegeEscalation"] is False
        assert ctx["readOnlyRootFilesystem"] is True
    assert ds["spec"]["template"]["metadata"]["labels"]["data-residency"] == "eu"
    ns = onprem("kubernetes:core/v1:Namespace", "onprem-ns-vpn-gateway")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_the_gateway_runs_frr_with_the_rendered_config_from_the_secret() -> None:
    ds = onprem("kubernetes:apps/v1:DaemonSet", "onprem-vpn-daemonset")
    pod = ds["spec"]["template"]["spec"]
    (frr,) = [c for c in pod["containers"] if c["name"] == "frr"]
    assert frr["image"] == "quay.io/frrouting/frr:8.4.4"  # tag only: no verifiable digest (README)
    script = frr["command"][-1]
    assert "/usr/lib/frr/zebra" in script and "/usr/lib/frr/bgpd" in script
    assert "/etc/hybrid-llm-infra/frr.conf" in script
    assert {m["name"]: m["mountPath"] for m in frr["volumeMounts"]}["config"] == "/etc/hybrid-llm-infra"
    (charon,) = [c for c in pod["containers"] if c["name"] == "charon"]
    # The XFRM interfaces exist before charon installs SAs bound to them.
    start = charon["command"][-1]
    assert start.index("xfrm-interfaces.sh") < start.index('"$c" &')
    files = rendered_gateway_files(shipped_runs()["onprem"])
    assert set(files) == {"swanctl.conf", "strongswan.conf", "frr.conf", "xfrm-interfaces.sh"}
    run = shipped_runs()["onprem"]
    assert files["frr.conf"] == run.outputs["vpnFrrConf"]
    assert "install_routes = no" in run.outputs["vpnStrongswanConf"]


def test_route_based_tunnels_one_interface_each() -> None:
    run = shipped_runs()["onprem"]
    conf, script = run.outputs["vpnSwanctlConf"], run.outputs["vpnXfrmInterfacesScript"]
    assert conf.count("local_ts = 0.0.0.0/0") == conf.count("remote_ts = 0.0.0.0/0") == 4
    for tunnel in run.outputs["vpnTunnels"]:
        if_id = tunnel["interface"].removeprefix("xfrm")
        assert f'ip link add {tunnel["interface"]} type xfrm dev "$dev" if_id {if_id}' in script
        assert f"ip addr add {tunnel['insideAddress']} dev {tunnel['interface']}" in script
        block = conf.split(f"  {tunnel['name']} {{\n", 1)[1].split("\n  }\n", 1)[0]
        assert f"if_id_in = {if_id}" in block and f"if_id_out = {if_id}" in block
        assert f"neighbor {tunnel['bgpNeighbor']} remote-as" in run.outputs["vpnFrrConf"]
    assert sorted(t["interface"] for t in run.outputs["vpnTunnels"]) == ["xfrm1", "xfrm2", "xfrm3", "xfrm4"]
    # No transit in the data plane: from each tunnel only the announced on-prem prefix, everything else refused.
    for n in range(1, 5):
        assert f"ip rule add priority 2000 iif xfrm{n} to 10.10.0.0/16 lookup main" in script
        assert f"ip rule add priority 3000 iif xfrm{n} prohibit" in script
    rules = [line for line in script.splitlines() if line.startswith("ip rule add")]
    assert len(rules) == 8 and not any("10.20." in r or "10.30." in r for r in rules)


def test_appliance_sites_get_the_rendered_configs_without_a_gateway(mock_stack: MockStack) -> None:
    """vpnGateway.deploy: false -> namespace None: the configs are rendered and exported, nothing is deployed."""
    run = shipped_runs()["frankfurt"]
    gateway = OnPremVpnGateway(
        "gw",
        OnPremVpnGatewayArgs(
            local_public_ip="198.51.100.10",
            peers=[VpnPeerArgs("frankfurt", run.outputs["vpn"], run.outputs["vpnPresharedKeys"], ["10.20.0.0/16"])],
            namespace=None,
            image="registry.example.com/strongswan:5.9.14",
            frr_image="registry.example.com/frr:8.4.4",
            bgp=GatewayBgp(local_asn=65010, advertise=["10.10.0.0/16"]),
            node_selector_label="edge",
            node_taint=NodeTaint(key="dedicated", value="vpn", effect="NoExecute"),
        ),
    )
    assert gateway.secret is None and gateway.daemon_set is None
    assert mock_stack.of_type("kubernetes:apps/v1:DaemonSet") == []
    assert mock_stack.of_type("kubernetes:core/v1:Secret") == []
    assert isinstance(gateway.frr_conf, pulumi.Output) and isinstance(gateway.swanctl_conf, pulumi.Output)


@pytest.mark.parametrize(
    ("gateway", "expected"),
    [
        (
            {"bgp": {"advertisePrefixes": ["10.99.0.0/16"]}},
            "hybrid-llm-infra:vpnGateway.bgp.advertisePrefixes[0]: 10.99.0.0/16 is not in the address plan's "
            "on-prem CIDRs; allowed: prefixes inside 10.10.0.0/16",
        ),
        (
            {"bgp": {"advertisePrefixes": ["10.10.0.0/16", "10.0.0.0/8"]}},
            "hybrid-llm-infra:vpnGateway.bgp.advertisePrefixes[1]: 10.0.0.0/8 is not in the address plan's",
        ),
        ({"bgp": {"advertisePrefixes": []}}, "hybrid-llm-infra:vpnGateway.bgp.advertisePrefixes: must not be empty"),
        (
            {"bgp": {"keepaliveSeconds": 10, "holdTimeSeconds": 20}},
            "hybrid-llm-infra:vpnGateway.bgp.keepaliveSeconds: 10 must be at most a third of holdTimeSeconds (20)",
        ),
        ({"bgp": {"holdTimeSeconds": 90}}, "hybrid-llm-infra:vpnGateway.bgp.holdTimeSeconds: "),
        ({"bgp": {"bfd": True}}, "hybrid-llm-infra:vpnGateway.bgp.bfd: unknown key"),
        ({"frrImage": "quay.io/frrouting/frr:latest"}, "hybrid-llm-infra:vpnGateway.frrImage: ':latest'"),
    ],
)
def test_bad_bgp_config_names_the_key(gateway: dict[str, Any], expected: str) -> None:
    problems = problems_of({**stack_config("onprem"), "hybrid-llm-infra:vpnGateway": json.dumps(gateway)})
    assert any(p.startswith(expected) for p in problems), problems


def test_a_sub_prefix_of_the_plan_may_be_advertised_alone() -> None:
    raw = {
        **stack_config("onprem"),
        "hybrid-llm-infra:vpnGateway": json.dumps({"bgp": {"advertisePrefixes": ["10.10.8.0/21"]}}),
    }
    config = parse_stack_config(raw)
    assert isinstance(config, OnPremStackConfig)
    from stackconfig.vpn import advertised_prefixes

    assert advertised_prefixes(config.vpn_gateway, config.address_plan) == ["10.10.8.0/21"]
    shipped = parse_stack_config(stack_config("onprem"))
    assert isinstance(shipped, OnPremStackConfig)
    assert advertised_prefixes(shipped.vpn_gateway, shipped.address_plan) == ["10.10.0.0/16"]
