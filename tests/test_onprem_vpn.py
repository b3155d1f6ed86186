"""The on-prem VPN gateway: rendered from the AWS stacks' exports, secret end to end, least privilege."""

from __future__ import annotations

import copy
import json

from components.onprem_vpn_gateway import render_gateway_configs
from infra.engine import redact
from tests.stack_runs import shipped_runs

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
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert ctx["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_BIND_SERVICE"]}
    assert ctx["privileged"] is False and ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ds["spec"]["template"]["metadata"]["labels"]["data-residency"] == "eu"
    ns = onprem("kubernetes:core/v1:Namespace", "onprem-ns-vpn-gateway")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
