"""The on-prem VPN gateway: rendered from the AWS stacks' exports, secret end to end, least privilege."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components.onprem_vpn_gateway import (
    VICI_ANSWER_SECONDS,
    NodeTaint,
    OnPremVpnGateway,
    OnPremVpnGatewayArgs,
    VpnPeerArgs,
    render_gateway_configs,
)
from infra.engine import redact
from stackconfig import OnPremStackConfig, parse_stack_config
from tests.conftest import MockStack
from tests.stack_runs import shipped_runs
from tests.test_config import problems_of, stack_config

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
    keys = [k for stack in ("frankfurt", "dubai") for k in shipped_runs()[stack].outputs["vpnPresharedKeys"]]
    assert len(keys) == 4
    conf = run.outputs["vpnSwanctlConf"]
    printed = json.dumps([redact(r.inputs) for r in run.resources]) + json.dumps(run.outputs["vpnTunnels"])
    printed += run.outputs["vpnStrongswanConf"]
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
    (container,) = onprem("kubernetes:apps/v1:DaemonSet", "onprem-vpn-daemonset")["spec"]["template"]["spec"][
        "containers"
    ]
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
            peers=[VpnPeerArgs("frankfurt", run.outputs["vpn"], run.outputs["vpnPresharedKeys"])],
            namespace="vpn-gateway",
            image="registry.example.com/strongswan:5.9.14",
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
        peers.append((stack, vpn, outputs["vpnPresharedKeys"]))
    assert [len(t["phase1DhGroupNumbers"]) for _, vpn, _ in peers for t in vpn["tunnels"]] == [3, 3, 3, 3]
    swanctl, _ = render_gateway_configs("198.51.100.10", peers)
    assert swanctl == shipped
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
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert ctx["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_BIND_SERVICE"]}
    assert ctx["privileged"] is False and ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ds["spec"]["template"]["metadata"]["labels"]["data-residency"] == "eu"
    ns = onprem("kubernetes:core/v1:Namespace", "onprem-ns-vpn-gateway")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
