"""The shipped stacks' VPN, negotiated for real: rendered on-prem config against the AWS side's inputs.

Nothing here is hand-written for the tunnels. From the shipped stacks' mock runs (``shipped_runs()``,
what ``infra check`` captures):

* the on-prem gateway runs the ``swanctl.conf`` and ``strongswan.conf`` that the on-prem stack put
  into its Kubernetes Secret (the Secret's captured inputs; the secret marker is unwrapped here,
  in the test only);
* each AWS tunnel endpoint is an AWS-equivalent strongSwan peer whose ``TunnelSpec`` is built in
  this test from the AWS ``VpnConnection``'s captured inputs: its proposals, lifetimes, DPD
  timeout, StartupAction, PSKs, inside CIDRs and traffic selectors. Its outside address is the
  mock's tunnel address (203.0.113.x / 192.0.2.x), the customer gateway's is the plan's
  198.51.100.10: documentation ranges, placed only inside the lab's own namespaces.

Topology (tests/vpn_harness.py): ``onprem`` (198.51.100.10) and one namespace per AWS tunnel endpoint, all
behind a router namespace. The tunnels are route-based (0.0.0.0/0 selectors, one XFRM interface id each):
this module proves the rendered config mirrors the AWS inputs, that weak peers are refused and that the
liveness probe works. That every tunnel negotiates the exact proposal, what crosses the tunnels (BGP, HTTP)
and failover between them are proven in tests/test_bgp_end_to_end.py, with one charon per tunnel: this
kernel's user-space ESP routes everything into its one TUN device once a 0.0.0.0/0 CHILD_SA is up, so four
route-based tunnels cannot share one daemon here (tests/bgp_lab.py).
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.vpn.swanctl import IkeRetransmission, TunnelSpec, ike_retransmission_for, render_swanctl_conf
from infra.engine import StackRun
from infra.mocks import CapturedResource
from tests.stack_runs import shipped_runs
from tests.vpn_harness import NegotiatedProposal, VpnLab, require_netns

SECRET_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
AWS_STACKS = ("frankfurt", "dubai")
VPC_HOSTS = {"frankfurt": "10.20.0.10", "dubai": "10.30.0.10"}
ONPREM_HOST = "10.10.0.1"
ESTABLISH_TIMEOUT_SECONDS = 20.0
"""Kill of tunnel 1's peer -> first reply over tunnel 2, with the shipped 10 s / 30 s DPD (see above)."""

# AWS's names -> what strongSwan reports for the first entry of each list (TunnelSpec keeps them
# strongest first, whatever order the captured inputs list them in).
_ENC = {"AES256-GCM-16": ("AES_GCM_16", 256), "AES256": ("AES_CBC", 256)}
_PRF = {"SHA2-384": "PRF_HMAC_SHA2_384", "SHA2-256": "PRF_HMAC_SHA2_256"}
_DH = {19: "ECP_256", 20: "ECP_384", 21: "ECP_521"}


def unwrap(value: Any) -> Any:
    """Plain value of a captured input (the test's own business; never printed)."""
    if isinstance(value, dict) and value.get(SECRET_KEY) == SECRET_SIG:
        return value["value"]
    return value


def one(run: StackRun, type_token: str) -> CapturedResource:
    found = [r for r in run.resources if r.type == type_token]
    assert len(found) == 1, f"{run.stack}: expected one {type_token}, found {len(found)}"
    return found[0]


@dataclass(frozen=True)
class AwsTunnel:
    stack: str
    index: int
    spec: TunnelSpec
    """The AWS-equivalent peer's spec (AWS's point of view)."""

    @property
    def name(self) -> str:
        return f"{self.stack}-t{self.index}"


def aws_peer_specs(stack: str, run: StackRun) -> list[AwsTunnel]:
    """The AWS side of both tunnels, from the VpnConnection's captured inputs (+ the mock's outside
    addresses, which only the stack outputs know)."""
    conn = one(run, "aws:ec2/vpnConnection:VpnConnection").inputs
    cgw = one(run, "aws:ec2/customerGateway:CustomerGateway").inputs
    tunnels = []
    for n in (1, 2):

        def opt(key: str, n: int = n) -> Any:
            return unwrap(conn[f"tunnel{n}{key}"])

        inside = ipaddress.IPv4Network(opt("InsideCidr"))
        aws_host, customer_host = list(inside.hosts())
        spec = TunnelSpec(
            name=f"{stack}-t{n}",
            local_outside_ip=run.outputs["vpn"]["tunnels"][n - 1]["outsideAddress"],
            remote_outside_ip=cgw["ipAddress"],
            local_inside_ip=f"{aws_host}/30",
            remote_inside_ip=f"{customer_host}/30",
            psk=opt("PresharedKey"),
            local_traffic_selectors=[conn["remoteIpv4NetworkCidr"]],
            remote_traffic_selectors=[conn["localIpv4NetworkCidr"]],
            ike_encryption=opt("Phase1EncryptionAlgorithms"),
            ike_integrity=opt("Phase1IntegrityAlgorithms"),
            ike_dh_groups=[int(g) for g in opt("Phase1DhGroupNumbers")],
            esp_encryption=opt("Phase2EncryptionAlgorithms"),
            esp_integrity=opt("Phase2IntegrityAlgorithms"),
            esp_dh_groups=[int(g) for g in opt("Phase2DhGroupNumbers")],
            ike_lifetime_seconds=int(opt("Phase1LifetimeSeconds")),
            esp_lifetime_seconds=int(opt("Phase2LifetimeSeconds")),
            rekey_margin_seconds=int(opt("RekeyMarginTimeSeconds")),
            rekey_fuzz_percentage=int(opt("RekeyFuzzPercentage")),
            dpd_timeout_seconds=int(opt("DpdTimeoutSeconds")),
            dpd_action=opt("DpdTimeoutAction"),
            startup_action=opt("StartupAction"),
            ike_versions=opt("IkeVersions"),
        )
        tunnels.append(AwsTunnel(stack, n, spec))
    return tunnels


def rendered_gateway_files(run: StackRun) -> Mapping[str, str]:
    secret = [r for r in run.resources if r.type == "kubernetes:core/v1:Secret" and r.name == "onprem-vpn-config"]
    assert len(secret) == 1, "the on-prem stack should store the gateway config in one Secret"
    string_data = secret[0].inputs["stringData"]
    assert isinstance(string_data, dict) and string_data.get(SECRET_KEY) == SECRET_SIG, "config must be secret"
    files = unwrap(string_data)
    assert set(files) == {"swanctl.conf", "strongswan.conf", "frr.conf", "xfrm-interfaces.sh"}
    return {k: unwrap(v) for k, v in files.items()}


def retransmission_from(strongswan_conf: str) -> IkeRetransmission:
    def setting(key: str) -> str:
        match = re.search(rf"^\s*{key} = (\S+)$", strongswan_conf, re.MULTILINE)
        assert match, f"{key} missing from the rendered strongswan.conf"
        return match.group(1)

    return IkeRetransmission(
        timeout_seconds=float(setting("retransmit_timeout")),
        tries=int(setting("retransmit_tries")),
        base=float(setting("retransmit_base")),
    )


def expected_ike(spec: TunnelSpec) -> NegotiatedProposal:
    encryption, size = _ENC[spec.ike_encryption[0]]
    integrity = None if spec.ike_encryption[0].endswith("GCM-16") else f"HMAC_{spec.ike_integrity[0]}"
    return NegotiatedProposal(encryption, size, integrity, _PRF[spec.ike_integrity[0]], _DH[spec.ike_dh_groups[0]])


def expected_esp(spec: TunnelSpec) -> NegotiatedProposal:
    encryption, size = _ENC[spec.esp_encryption[0]]
    return NegotiatedProposal(encryption, size, None, None, None)  # first CHILD_SA: no PFS group yet


def inputs() -> tuple[Mapping[str, str], list[AwsTunnel]]:
    runs = shipped_runs()
    for stack in (*AWS_STACKS, "onprem"):
        assert runs[stack].ok, (stack, runs[stack].problems, runs[stack].crash)
    files = rendered_gateway_files(runs["onprem"])
    tunnels = [t for stack in AWS_STACKS for t in aws_peer_specs(stack, runs[stack])]
    return files, tunnels


def test_rendered_config_matches_the_aws_inputs() -> None:
    files, tunnels = inputs()
    conf = files["swanctl.conf"]
    interfaces = {t["name"]: t["interface"] for t in shipped_runs()["onprem"].outputs["vpnTunnels"]}
    for tunnel in tunnels:
        # Route-based: the AWS side negotiates 0.0.0.0/0 both ways; the gateway binds the tunnel to its interface.
        assert tunnel.spec.local_traffic_selectors == tunnel.spec.remote_traffic_selectors == ("0.0.0.0/0",)
        if_id = int(interfaces[tunnel.name].removeprefix("xfrm"))
        gateway_view = tunnel.spec.mirrored(name=tunnel.name, startup_action="start", if_id=if_id)
        # The gateway's connection is exactly the mirror of the AWS inputs (same proposals and PSK).
        assert render_swanctl_conf([gateway_view]).split("connections {\n", 1)[1].split("\n}\nsecrets")[0] in conf
        assert f"secret = 0x{tunnel.spec.psk.encode().hex()}" in conf
    assert "retransmit_timeout = 5.000" in files["strongswan.conf"]  # 30 s DPD = 6 x 5 s


def test_impostor_offering_only_weak_proposals_gets_no_sa() -> None:
    """A peer at frankfurt tunnel 1's address with the right PSK but only weak proposals."""
    require_netns()
    files, tunnels = inputs()
    target = tunnels[0].spec
    weak_conf = f"""\
connections {{
  {tunnels[0].name} {{
    version = 2
    local_addrs = {target.local_outside_ip}
    remote_addrs = {target.remote_outside_ip}
    proposals = aes128-sha1-modp1024
    local {{
      auth = psk
      id = {target.local_outside_ip}
    }}
    remote {{
      auth = psk
      id = {target.remote_outside_ip}
    }}
    children {{
      {tunnels[0].name} {{
        local_ts = {target.local_traffic_selectors[0]}
        remote_ts = {target.remote_traffic_selectors[0]}
        esp_proposals = aes128-sha1-modp1024
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-weak {{
    id-local = {target.local_outside_ip}
    id-remote = {target.remote_outside_ip}
    secret = 0x{target.psk.encode().hex()}
  }}
}}
"""
    with VpnLab() as vpn_lab:
        onprem = vpn_lab.add_site("onprem", f"{target.remote_outside_ip}/24", inside=[ONPREM_HOST])
        weak = vpn_lab.add_site("weak", f"{target.local_outside_ip}/30", inside=[VPC_HOSTS["frankfurt"]])
        weak_charon = vpn_lab.start_charon(weak, retransmit=ike_retransmission_for([target]))
        weak_charon.load(weak_conf)
        gateway = vpn_lab.start_charon(onprem, retransmit=retransmission_from(files["strongswan.conf"]))
        gateway.load(files["swanctl.conf"])
        offered = weak_charon.initiate(tunnels[0].name, timeout=10)
        assert offered.returncode != 0 and "NO_PROPOSAL_CHOSEN" in offered.stdout, offered.stdout
        log = gateway.log_text()
        assert "received proposals: IKE:AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024" in log, log
        assert "received proposals unacceptable" in log, log
        for charon in (gateway, weak_charon):
            assert not [sa for sa in charon.list_sas() if sa.state == "ESTABLISHED"], vpn_lab.logs()
        assert weak.ping(ONPREM_HOST, src=VPC_HOSTS["frankfurt"], count=1, deadline=1).received == 0


def test_the_liveness_probe_fails_on_a_hung_or_dead_charon() -> None:
    """The shipped DaemonSet's liveness command against a real charon: it passes while charon answers, fails
    within the probe's timeout while charon is stopped (alive, socket open, never answering: a hang), passes
    again once charon continues, and fails at once when charon is gone."""
    require_netns()
    (ds,) = [
        r
        for r in shipped_runs()["onprem"].resources
        if r.type == "kubernetes:apps/v1:DaemonSet" and r.name == "onprem-vpn-daemonset"
    ]
    (container,) = [c for c in ds.inputs["spec"]["template"]["spec"]["containers"] if c["name"] == "charon"]
    probe = container["livenessProbe"]
    timeout = float(probe["timeoutSeconds"])
    with VpnLab() as vpn_lab:
        charon = vpn_lab.start_charon(vpn_lab.add_site("gw", "192.0.2.10/24"))
        # In the pod swanctl finds charon at the image's default socket; the lab's charon listens on its own.
        argv = [*probe["exec"]["command"], "--uri", charon.uri]

        def run_probe() -> tuple[int, float]:
            start = time.monotonic()
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10, check=False)
            return done.returncode, time.monotonic() - start

        assert run_probe()[0] == 0
        os.kill(charon.pid, signal.SIGSTOP)
        try:
            code, elapsed = run_probe()
        finally:
            os.kill(charon.pid, signal.SIGCONT)
        assert code != 0, "a charon that never answers must fail the probe"
        assert elapsed < timeout, f"the probe ended after {elapsed:.1f} s, not before kubelet's {timeout} s"
        assert run_probe()[0] == 0, "the same charon answers again once it continues"
        charon.stop(signal.SIGKILL)
        code, elapsed = run_probe()
        assert code != 0 and elapsed < 2.0, (code, elapsed)
