"""The FRR renderer: what each neighbor may send and receive, timers, bad input; bgpd itself parses the output."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from components.vpn.frr import BgpNeighbor, FrrSpec, render_frr_conf
from components.vpn.gateway import GatewayBgp, PeerExport, gateway_frr_spec
from tests.oracles import unavailable
from tests.stack_runs import shipped_runs

BGPD = Path("/usr/lib/frr/bgpd")


def neighbors() -> list[BgpNeighbor]:
    return [
        BgpNeighbor("frankfurt", "frankfurt-t1", "169.254.10.1", 64512, ["10.20.0.0/16"]),
        BgpNeighbor("frankfurt", "frankfurt-t2", "169.254.10.5", 64512, ["10.20.0.0/16"]),
        BgpNeighbor("dubai", "dubai-t1", "169.254.20.1", 64513, ["10.30.0.0/16"]),
    ]


def spec(**overrides: Any) -> FrrSpec:
    base: dict[str, Any] = dict(
        local_asn=65010, router_id="198.51.100.10", advertise=["10.10.0.0/16"], neighbors=neighbors()
    )
    return FrrSpec(**{**base, **overrides})


def lines_for(conf: str, address: str) -> list[str]:
    return [line.strip() for line in conf.splitlines() if line.strip().startswith(f"neighbor {address} ")]


def test_each_neighbor_gets_exactly_its_filters_and_timers() -> None:
    conf = render_frr_conf(spec())
    assert "ip prefix-list ONPREM-OUT seq 10 permit 10.10.0.0/16" in conf
    assert "ip prefix-list FROM-FRANKFURT seq 10 permit 10.20.0.0/16" in conf
    assert "ip prefix-list FROM-DUBAI seq 10 permit 10.30.0.0/16" in conf
    # Exact matches only: no "le"/"ge" that would let a more specific or the default route through.
    assert not [line for line in conf.splitlines() if "prefix-list" in line and (" le " in line or " ge " in line)]
    assert lines_for(conf, "169.254.20.1") == [
        "neighbor 169.254.20.1 remote-as 64513",
        "neighbor 169.254.20.1 description dubai-t1",
        "neighbor 169.254.20.1 timers 10 30",
        "neighbor 169.254.20.1 timers connect 10",
        "neighbor 169.254.20.1 activate",
        "neighbor 169.254.20.1 soft-reconfiguration inbound",
        "neighbor 169.254.20.1 prefix-list FROM-DUBAI in",
        "neighbor 169.254.20.1 route-map FROM-DUBAI in",
        "neighbor 169.254.20.1 prefix-list ONPREM-OUT out",
        "neighbor 169.254.20.1 route-map TO-AWS out",
        "neighbor 169.254.20.1 maximum-prefix 10 restart 1",
    ]
    for address in ("169.254.10.1", "169.254.10.5"):
        assert f"neighbor {address} prefix-list FROM-FRANKFURT in" in lines_for(conf, address)
        assert f"neighbor {address} prefix-list FROM-DUBAI in" not in lines_for(conf, address)
    # Learned routes are no-export; nothing is originated but the plan's prefixes; one path per region.
    assert conf.count("set community no-export additive") == 2
    assert [line.strip() for line in conf.splitlines() if line.strip().startswith("network ")] == [
        "network 10.10.0.0/16"
    ]
    assert "default-originate" not in conf and "redistribute" not in conf
    assert "  maximum-paths 1" in conf


def test_same_input_same_bytes() -> None:
    assert render_frr_conf(spec()) == render_frr_conf(spec())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"local_asn": 64512}, "neighbors: frankfurt-t1's ASN 64512 equals local_asn"),
        ({"local_asn": 0}, "local_asn: 0 is not an ASN"),
        ({"local_asn": 4294967295}, "local_asn: 4294967295 is not an ASN"),
        ({"advertise": ["0.0.0.0/0"]}, "advertise: 0.0.0.0/0 is a default route"),
        ({"advertise": []}, "advertise: must not be empty"),
        ({"advertise": ["10.20.0.0/24"]}, "neighbors: frankfurt-t1 would accept 10.20.0.0/16, inside 10.20.0.0/24"),
        ({"advertise": ["10.10.0.1/16"]}, "advertise: '10.10.0.1/16' is not an IPv4 network"),
        ({"neighbors": []}, "neighbors: at least one is needed"),
        ({"keepalive_seconds": 20}, "hold_time_seconds: 30 must be >= 3 and >= 3 x keepalive_seconds (20)"),
        ({"hold_time_seconds": 2, "keepalive_seconds": 1}, "hold_time_seconds: 2 must be >= 3"),
        ({"router_id": "not-an-ip"}, "router_id: 'not-an-ip' is not an IPv4 address"),
    ],
)
def test_bad_spec_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        spec(**overrides)
    assert str(info.value).startswith(message), info.value


def test_bad_neighbor_is_refused() -> None:
    with pytest.raises(ValueError, match="must be a tunnel inside address"):
        BgpNeighbor("frankfurt", "frankfurt-t1", "10.20.0.1", 64512, ["10.20.0.0/16"])
    with pytest.raises(ValueError, match="default route"):
        BgpNeighbor("frankfurt", "frankfurt-t1", "169.254.10.1", 64512, ["0.0.0.0/0"])
    twin = BgpNeighbor("frankfurt", "frankfurt-t9", "169.254.10.1", 64512, ["10.20.0.0/16"])
    with pytest.raises(ValueError, match="duplicate addresses"):
        spec(neighbors=[*neighbors(), twin])
    other = BgpNeighbor("frankfurt", "frankfurt-t3", "169.254.10.9", 64512, ["10.21.0.0/16"])
    with pytest.raises(ValueError, match="tunnels of frankfurt accept different CIDRs"):
        spec(neighbors=[*neighbors(), other])


def test_the_shipped_gateway_config_comes_from_the_aws_exports() -> None:
    runs = shipped_runs()
    conf = runs["onprem"].outputs["vpnFrrConf"]
    for stack, vpc in (("frankfurt", "10.20.0.0/16"), ("dubai", "10.30.0.0/16")):
        for tunnel in runs[stack].outputs["vpn"]["tunnels"]:
            address = tunnel["awsInsideAddress"].split("/")[0]
            assert f"neighbor {address} remote-as {tunnel['awsBgpAsn']}" in conf
            assert f"neighbor {address} prefix-list FROM-{stack.upper()} in" in conf
        assert f"ip prefix-list FROM-{stack.upper()} seq 10 permit {vpc}" in conf
    assert "router bgp 65010" in conf and "bgp router-id 198.51.100.10" in conf


def test_the_hold_time_never_exceeds_what_aws_reports() -> None:
    vpn = shipped_runs()["frankfurt"].outputs["vpn"]
    lowered = {**vpn, "tunnels": [{**t, "bgpHoldtime": 15} for t in vpn["tunnels"]]}
    peers = [PeerExport("frankfurt", lowered, None, ["10.20.0.0/16"])]
    frr = gateway_frr_spec("198.51.100.10", peers, GatewayBgp(local_asn=65010, advertise=["10.10.0.0/16"]))
    assert frr is not None and (frr.keepalive_seconds, frr.hold_time_seconds) == (5, 15)


def test_bgpd_parses_every_line_of_the_shipped_config() -> None:
    """``bgpd -C`` (dry run) logs every line it cannot parse; the shipped config must give none. A broken line
    is reported, so the check can fail. Needs Debian's frr and root (bgpd switches to the frr user)."""
    if not BGPD.exists() or shutil.which("vtysh") is None or os.geteuid() != 0:
        unavailable("bgpd -C", "needs frr (apt-get install frr) and root; CI has both")
    conf = shipped_runs()["onprem"].outputs["vpnFrrConf"]
    workdir = Path(tempfile.mkdtemp(prefix="frr-render-"))
    workdir.chmod(0o755)  # bgpd reads the file as the frr user

    def dry_run(text: str) -> str:
        path = workdir / "frr.conf"
        path.write_text(text)
        path.chmod(0o644)
        done = subprocess.run(
            # Stay root (the frr user cannot reach /usr/lib where / is not world-searchable, as in a fresh CI root).
            [str(BGPD), "-u", "root", "-g", "frrvty", "-C", "-f", str(path), "--log", "stdout"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.stdout + done.stderr

    try:
        clean = dry_run(conf)
        assert "No such command" not in clean and "[EC " not in clean, clean
        assert "No such command" in dry_run(conf.replace("maximum-paths 1", "maximum-pathz 1"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
