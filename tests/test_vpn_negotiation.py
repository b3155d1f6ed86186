"""Real IKEv2 between network namespaces: the rendered on-prem gateway against AWS-equivalent peers.

Topology (built by tests/vpn_harness.py; nothing touches the host's network)::

    onprem 192.0.2.10, lo 10.10.0.1 ── inet (router) ──┬── aws1 198.51.100.10, lo 10.20.0.10
                                                        └── aws2 198.51.100.20, lo 10.20.0.10

One charon per namespace. Each AWS tunnel endpoint gets its own namespace and daemon so failover
is real: killing aws1's charon takes tunnel 1 down and nothing else, as when one AWS endpoint
dies. Both carry the VPC address 10.20.0.10, standing in for the VPC behind both endpoints. The
router has no route to 10.10.0.0/16 or 10.20.0.0/16, so the only way between them is a tunnel.

The on-prem side is ``render_swanctl_conf`` of two tunnels (own PSK and /30 inside CIDR each,
169.254.10.0/30 and 169.254.10.4/30). The AWS peers are rendered by the same function from the
mirror-image specs (``TunnelSpec.mirrored``, StartupAction ``add`` like AWS's default); later
they will be built from the AWS stack's captured VPN inputs instead.

Two tunnels with the same selectors, and how failover works (found by experiment here with
strongSwan 5.9.8 and kernel-libipsec, and asserted below so a change shows up):

* Both CHILD_SAs use identical selectors (10.10.0.0/16 <-> 10.20.0.0/16), so charon gives them
  the same reqid and kernel-libipsec keeps a single route ``10.20.0.0/16 dev ipsec0`` in table
  220 for as long as either CHILD_SA exists.
* For an outbound packet libipsec takes the most recently installed outbound SA of that reqid:
  one tunnel carries the traffic (active/standby), namely the one installed or rekeyed last. The
  failover test rekeys tunnel 1's CHILD_SA to make it the active one, and checks that with the
  packet counters before killing its peer.
* When DPD declares tunnel 1's peer dead, its CHILD_SA is deleted and the next packet leaves
  over tunnel 2's SA; the route does not change. (AWS itself uses route-based tunnels and BGP;
  this policy-based active/standby only stands in for that here.)

Timers: the specs here use DPD delay 1 s and timeout 3 s (``allow_short_timers``) instead of
AWS's 10 s / at least 30 s, so failover takes seconds instead of most of a minute. For IKEv2 the
timeout is enforced by charon's retransmission settings (``ike_retransmission_for``: 5
retransmissions 0.5 s apart). FAILOVER_BOUND_SECONDS is 10: detection takes at most DPD delay +
timeout (4 s), plus up to about 1 s of probing granularity (measured here: about 4.5 s). That
leaves room for a loaded CI machine and is still far below strongSwan's default of about 165 s,
which is what a lost retransmission setting would produce.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from components.vpn.swanctl import TunnelSpec, ike_retransmission_for, render_swanctl_conf
from tests.vpn_harness import (
    APT_PACKAGES,
    Charon,
    ChildSa,
    IkeSa,
    NegotiatedProposal,
    Site,
    VpnLab,
    require_netns,
    wait_until,
)

ONPREM_OUTSIDE = "192.0.2.10/24"
AWS_OUTSIDE = ("198.51.100.10/29", "198.51.100.20/29")
WEAK_OUTSIDE = "198.51.100.30/29"
ONPREM_HOST = "10.10.0.1"
VPC_HOST = "10.20.0.10"
ONPREM_CIDR = "10.10.0.0/16"
VPC_CIDR = "10.20.0.0/16"

ESTABLISH_TIMEOUT_SECONDS = 15.0
FAILOVER_BOUND_SECONDS = 10.0
"""Kill of tunnel 1's peer -> first reply over tunnel 2; see the module docstring for why 10."""

# What the rendered strongest-first order negotiates (both sides render the same sets in the same
# order, and a responder prefers its own): AES256-GCM-16, PRF from SHA2-384, DH group 21 (P-521),
# although the specs list the groups as 20, 19, 21.
EXPECTED_IKE = NegotiatedProposal("AES_GCM_16", 256, None, "PRF_HMAC_SHA2_384", "ECP_521")
# The first CHILD_SA is keyed from the IKE_SA, so it shows no DH group; PFS applies on rekey.
EXPECTED_ESP_INITIAL = NegotiatedProposal("AES_GCM_16", 256, None, None, None)
EXPECTED_ESP_REKEYED = NegotiatedProposal("AES_GCM_16", 256, None, None, "ECP_521")


def onprem_tunnel(index: int, psk: str, inside_base: int) -> TunnelSpec:
    """Tunnel ``index`` from on-prem to AWS outside address ``index``; AWS takes the first inside
    address of the /30, the customer gateway the second (AWS's convention)."""
    return TunnelSpec(
        name=f"tun{index}",
        local_outside_ip=ONPREM_OUTSIDE.split("/")[0],
        remote_outside_ip=AWS_OUTSIDE[index - 1].split("/")[0],
        local_inside_ip=f"169.254.10.{inside_base + 2}/30",
        remote_inside_ip=f"169.254.10.{inside_base + 1}/30",
        psk=psk,
        local_traffic_selectors=[ONPREM_CIDR],
        remote_traffic_selectors=[VPC_CIDR],
        ike_encryption=["AES256-GCM-16"],
        ike_integrity=["SHA2-384", "SHA2-256"],
        ike_dh_groups=[20, 19, 21],
        esp_encryption=["AES256-GCM-16"],
        esp_integrity=["SHA2-384", "SHA2-256"],
        esp_dh_groups=[20, 19, 21],
        dpd_delay_seconds=1,
        dpd_timeout_seconds=3,
        allow_short_timers=True,  # DPD 3 s instead of >= 30 s: see the module docstring
    )


TUNNELS = (
    onprem_tunnel(1, "Tunnel1.psk_4f8a1c", inside_base=0),
    onprem_tunnel(2, "Tunnel2.psk_9b2e7d", inside_base=4),
)


@dataclass
class Topology:
    lab: VpnLab
    onprem: Site
    onprem_charon: Charon
    aws_charons: tuple[Charon, ...]
    tunnels: tuple[TunnelSpec, ...]


@contextmanager
def two_tunnel_topology() -> Iterator[Topology]:
    require_netns()
    retransmit = ike_retransmission_for(TUNNELS)
    with VpnLab() as lab:
        onprem = lab.add_site("onprem", ONPREM_OUTSIDE, inside=[ONPREM_HOST])
        aws_charons = []
        for spec, outside in zip(TUNNELS, AWS_OUTSIDE, strict=True):
            site = lab.add_site(f"aws{spec.name[-1]}", outside, inside=[VPC_HOST])
            charon = lab.start_charon(site, retransmit=retransmit)
            # Responders are configured before the gateway initiates, as AWS's endpoints always are.
            charon.load(render_swanctl_conf([spec.mirrored()], role_comment=f"AWS-equivalent peer of {spec.name}"))
            aws_charons.append(charon)
        onprem_charon = lab.start_charon(onprem, retransmit=retransmit)
        onprem_charon.load(render_swanctl_conf(TUNNELS, role_comment="on-prem gateway"))
        onprem_charon.wait_established([t.name for t in TUNNELS], timeout=ESTABLISH_TIMEOUT_SECONDS)
        for charon, spec in zip(aws_charons, TUNNELS, strict=True):
            charon.wait_established([spec.name], timeout=ESTABLISH_TIMEOUT_SECONDS)
        yield Topology(lab, onprem, onprem_charon, tuple(aws_charons), TUNNELS)


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    """Both tunnels up; shared by the tests that leave them up (failover builds its own)."""
    with two_tunnel_topology() as topo:
        yield topo


def up_sa(charon: Charon, name: str) -> IkeSa:
    sas = [sa for sa in charon.sas_named(name) if sa.is_up]
    assert len(sas) == 1, f"{charon.site.name}: expected one usable IKE_SA {name}, got {sas}"
    return sas[0]


def out_packets(charon: Charon, name: str) -> int:
    """Outbound packets over connection ``name`` (0 when it has no SA)."""
    return sum(sa.packets()[1] for sa in charon.sas_named(name))


def rekey_and_wait(charon: Charon, name: str) -> ChildSa:
    """Rekey a CHILD_SA and return its successor once INSTALLED. (The old one lingers as DELETED
    for charon's delete_rekeyed_delay, 5 s, but no longer carries outbound traffic.)"""
    old = {c.unique_id for c in up_sa(charon, name).children}
    charon.rekey_child(name)

    def rekeyed() -> ChildSa | None:
        # Mid-rekey no CHILD_SA may be INSTALLED for a moment, so don't insist on up_sa() here.
        fresh = [
            child
            for sa in charon.sas_named(name)
            if sa.state == "ESTABLISHED"
            for child in sa.installed_children
            if child.unique_id not in old
        ]
        return fresh[0] if len(fresh) == 1 else None

    return wait_until(rekeyed, timeout=10, what=f"{name}'s CHILD_SA rekey")


# --- healthy tunnels -------------------------------------------------------------------------


def test_both_tunnels_establish_with_the_exact_policy_proposal(topology: Topology) -> None:
    reqids = set()
    for spec, aws in zip(topology.tunnels, topology.aws_charons, strict=True):
        for charon, initiator in ((topology.onprem_charon, True), (aws, False)):
            sa = up_sa(charon, spec.name)
            where = f"{charon.site.name}/{spec.name}"
            assert (sa.version, sa.state, sa.initiator) == (2, "ESTABLISHED", initiator), where
            assert sa.proposal == EXPECTED_IKE, f"{where}: IKE negotiated {sa.proposal}"
            (child,) = sa.installed_children
            assert child.proposal == EXPECTED_ESP_INITIAL, f"{where}: ESP negotiated {child.proposal}"
            assert child.mode == "TUNNEL"
        onprem_sa = up_sa(topology.onprem_charon, spec.name)
        assert (onprem_sa.local_host, onprem_sa.remote_host) == (spec.local_outside_ip, spec.remote_outside_ip)
        assert (onprem_sa.local_id, onprem_sa.remote_id) == (spec.local_outside_ip, spec.remote_outside_ip)
        (child,) = onprem_sa.installed_children
        assert (child.local_ts, child.remote_ts) == ((ONPREM_CIDR,), (VPC_CIDR,))
        reqids.add(child.reqid)
    # The shared reqid is what makes the standby tunnel take over (module docstring).
    assert len(reqids) == 1, f"both CHILD_SAs were expected to share a reqid, got {reqids}"


def test_ping_from_onprem_reaches_the_vpc_only_through_a_tunnel(topology: Topology) -> None:
    router = topology.lab.router_netns
    assert router is not None
    # Without the tunnel there is no path: the "internet" does not route the private ranges.
    route = subprocess.run(["ip", "-n", router, "route", "get", VPC_HOST], capture_output=True, text=True)
    assert route.returncode != 0, f"router unexpectedly routes {VPC_HOST}: {route.stdout}"

    before = sum(out_packets(topology.onprem_charon, t.name) for t in topology.tunnels)
    result = topology.onprem.ping(VPC_HOST, src=ONPREM_HOST, count=3)
    assert result.received == 3, result.output
    after = sum(out_packets(topology.onprem_charon, t.name) for t in topology.tunnels)
    assert after - before >= 3, "the pings did not go through an IPsec SA"


def test_child_rekey_negotiates_the_pfs_group(topology: Topology) -> None:
    child = rekey_and_wait(topology.onprem_charon, "tun2")
    assert child.proposal == EXPECTED_ESP_REKEYED, f"rekeyed CHILD_SA negotiated {child.proposal}"
    assert up_sa(topology.onprem_charon, "tun2").proposal == EXPECTED_IKE
    assert topology.onprem.ping(VPC_HOST, src=ONPREM_HOST, count=2).received == 2


# --- failover --------------------------------------------------------------------------------


def test_traffic_fails_over_to_tunnel_2_when_tunnel_1_peer_dies() -> None:
    with two_tunnel_topology() as topo:
        onprem, gateway = topo.onprem, topo.onprem_charon
        # Make tunnel 1 the active one (libipsec sends over the newest SA), then prove it is.
        rekey_and_wait(gateway, "tun1")
        tun1_before, tun2_before = out_packets(gateway, "tun1"), out_packets(gateway, "tun2")
        assert onprem.ping(VPC_HOST, src=ONPREM_HOST, count=3).received == 3
        assert out_packets(gateway, "tun1") - tun1_before >= 3, "tunnel 1 should carry the traffic"
        assert out_packets(gateway, "tun2") == tun2_before, "tunnel 2 should be idle before the failure"

        # SIGKILL: the AWS endpoint vanishes without a DELETE, so only DPD can notice.
        topo.aws_charons[0].stop(signal.SIGKILL)
        elapsed = onprem.wait_for_reply(VPC_HOST, src=ONPREM_HOST, timeout=FAILOVER_BOUND_SECONDS + 5)
        assert elapsed <= FAILOVER_BOUND_SECONDS, f"failover took {elapsed:.1f} s\n{topo.lab.logs()}"

        assert not any(sa.is_up for sa in gateway.sas_named("tun1")), "tunnel 1 should be down"
        tun2_before = out_packets(gateway, "tun2")
        result = onprem.ping(VPC_HOST, src=ONPREM_HOST, count=5)
        assert result.received == 5, result.output
        assert out_packets(gateway, "tun2") - tun2_before >= 5, "traffic should flow over tunnel 2"
        # keyingtries = 0 and dpd_action = restart: the gateway keeps trying to bring tunnel 1 back.
        assert [sa.state for sa in gateway.sas_named("tun1")] == ["CONNECTING"]
        print(f"failover after killing tunnel 1's peer: {elapsed:.2f} s (bound {FAILOVER_BOUND_SECONDS} s)")


# --- downgrade refused -----------------------------------------------------------------------

WEAK_PSK = "Weak.peer_psk_31"
# Hand-written: the renderer refuses these algorithms (checked below), which is the point.
WEAK_PEER_CONF = f"""\
connections {{
  weak {{
    version = 2
    local_addrs = {WEAK_OUTSIDE.split("/")[0]}
    remote_addrs = {ONPREM_OUTSIDE.split("/")[0]}
    proposals = aes128-sha1-modp1024
    local {{
      auth = psk
      id = {WEAK_OUTSIDE.split("/")[0]}
    }}
    remote {{
      auth = psk
      id = {ONPREM_OUTSIDE.split("/")[0]}
    }}
    children {{
      weak {{
        local_ts = {VPC_CIDR}
        remote_ts = {ONPREM_CIDR}
        esp_proposals = aes128-sha1-modp1024
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-weak {{
    id-local = {WEAK_OUTSIDE.split("/")[0]}
    id-remote = {ONPREM_OUTSIDE.split("/")[0]}
    secret = {WEAK_PSK}
  }}
}}
"""


def test_peer_offering_only_weak_proposals_gets_no_sa() -> None:
    require_netns()
    spec = TunnelSpec(
        name="weak",
        local_outside_ip=ONPREM_OUTSIDE.split("/")[0],
        remote_outside_ip=WEAK_OUTSIDE.split("/")[0],
        local_inside_ip="169.254.10.10/30",
        remote_inside_ip="169.254.10.9/30",
        psk=WEAK_PSK,
        local_traffic_selectors=[ONPREM_CIDR],
        remote_traffic_selectors=[VPC_CIDR],
        startup_action="add",  # let the weak peer initiate; the gateway initiates explicitly below
        dpd_delay_seconds=1,
        dpd_timeout_seconds=3,
        allow_short_timers=True,
    )
    with pytest.raises(ValueError, match="ike_encryption"):
        replace(spec, ike_encryption=["AES128"], ike_integrity=["SHA1"], ike_dh_groups=[2])

    retransmit = ike_retransmission_for([spec])
    with VpnLab() as lab:
        onprem = lab.add_site("onprem", ONPREM_OUTSIDE, inside=[ONPREM_HOST])
        weak = lab.add_site("weak", WEAK_OUTSIDE, inside=[VPC_HOST])
        gateway = lab.start_charon(onprem, retransmit=retransmit)
        gateway.load(render_swanctl_conf([spec], role_comment="on-prem gateway"))
        weak_charon = lab.start_charon(weak, retransmit=retransmit)
        weak_charon.load(WEAK_PEER_CONF)

        # The weak peer initiates: the gateway (responder) must refuse its only proposal...
        offered = weak_charon.initiate("weak", timeout=10)
        assert offered.returncode != 0, offered.stdout
        assert "NO_PROPOSAL_CHOSEN" in offered.stdout, offered.stdout
        # ...and when the gateway initiates, it offers nothing the weak peer accepts either.
        asked = gateway.initiate("weak", timeout=10)
        assert asked.returncode != 0, asked.stdout
        assert "NO_PROPOSAL_CHOSEN" in asked.stdout, asked.stdout

        # Refused for the proposals, not for want of a matching connection.
        log = gateway.log_text()
        assert "received proposals: IKE:AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024" in log, log
        assert "received proposals unacceptable" in log, log

        for charon in (gateway, weak_charon):
            assert not [sa for sa in charon.list_sas() if sa.state == "ESTABLISHED"], lab.logs()
        assert weak.ping(ONPREM_HOST, src=VPC_HOST, count=1, deadline=1).received == 0


# --- the machine the lab runs on -------------------------------------------------------------


def test_ci_installs_every_package_the_lab_needs() -> None:
    """CI installs with --no-install-recommends, so a package the lab needs only through a Recommends
    (libstrongswan-standard-plugins: openssl, gcm) must be named in .ci/run itself."""
    script = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    commands = [shlex.split(line, comments=True) for line in script.replace("\\\n", " ").splitlines()]
    installs = [c[c.index("install") + 1 :] for c in commands if c[:1] == ["apt-get"] and "install" in c]
    assert installs, "no apt-get install in .ci/run"
    named = {w for words in installs for w in words if not w.startswith(("-", ">"))}
    assert set(APT_PACKAGES) <= named, sorted(set(APT_PACKAGES) - named)
