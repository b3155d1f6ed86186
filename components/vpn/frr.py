"""Render FRR's ``frr.conf`` (bgpd) for the on-prem gateway's BGP sessions over the route-based tunnels.

Pure and stdlib-only, like :mod:`components.vpn.swanctl`: the on-prem stack calls it with the AWS stacks'
``vpn`` exports (each tunnel's AWS inside address and Amazon-side ASN) and the address plan, and the BGP lab
(tests/test_bgp_end_to_end.py) runs the rendered bytes in a real bgpd.

What the rendered configuration guarantees, per neighbor (one per tunnel, its AWS inside address):

* **out**: only the on-prem prefixes the plan allows (prefix-list ``ONPREM-OUT``, exact matches, and a route-map
  that matches nothing else). A route learned from one AWS region is never in that list, so it is never sent to
  the other region: no transit between EU and UAE through on-prem. Every route learned from AWS is also tagged
  ``no-export`` on the way in, which forbids advertising it to any eBGP peer (RFC 1997) even if the outbound
  list were ever widened.
* **in**: exactly that region's VPC CIDR (prefix-list ``FROM-<SITE>``, exact match); anything else, a default
  route included, is dropped. ``soft-reconfiguration inbound`` keeps what was refused visible
  (``show bgp neighbor X received-routes``).
* ``maximum-prefix N restart M``: more than N accepted prefixes tears the session down for M minutes. Not
  ``force`` (which would count refused prefixes too): with FRR 8.4 and ``soft-reconfiguration inbound`` it
  counted the same refused prefixes again on every re-evaluation and tore down every session a few seconds
  after start, seen in the BGP lab (``%MAXPFXEXCEED ... 12 exceed, limit 10`` from peers sending 2-5).
* timers ``keepalive``/``hold`` per neighbor (AWS's customer gateway configurations use 10/30), and
  ``maximum-paths 1``: one active tunnel per region at a time (a virtual private gateway does not do ECMP).

FRR 8.4 syntax (Debian bookworm's frr 8.4.4, the version of the pinned image); ``bgpd -C`` accepts it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["BgpNeighbor", "FrrSpec", "render_frr_conf"]

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_MAX_ASN = 4294967294  # 4294967295 is reserved (RFC 7300)


def _networks(name: str, values: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise ValueError(f"{name}: expected a list of CIDRs, got the string {values!r}")
    out = []
    for value in values:
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{name}: {value!r} is not an IPv4 network ({exc})") from None
        if net.prefixlen == 0:
            raise ValueError(f"{name}: {net} is a default route; the gateway never exchanges one")
        out.append(str(net))
    if not out:
        raise ValueError(f"{name}: must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: duplicate entries in {out}")
    return tuple(out)


def _asn(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_ASN:
        raise ValueError(f"{name}: {value!r} is not an ASN (1-{_MAX_ASN})")
    return value


@dataclass(frozen=True)
class BgpNeighbor:
    """One BGP session: over one tunnel, to that tunnel's AWS inside address."""

    site: str
    """The AWS site (region) behind the tunnel, e.g. ``frankfurt``; names the inbound filter."""
    tunnel: str
    """The tunnel's name (the swanctl connection), e.g. ``frankfurt-t1``; the neighbor's description."""
    address: str
    """The AWS side's inside address, e.g. ``169.254.10.1``."""
    remote_asn: int
    """The Amazon-side ASN."""
    accept: Sequence[str]
    """What this neighbor may announce: that region's VPC CIDR(s), matched exactly."""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.site):
            raise ValueError(f"site: {self.site!r} must be a DNS label")
        if not re.match(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$", self.tunnel):
            raise ValueError(f"tunnel: {self.tunnel!r} is not a valid name")
        try:
            address = ipaddress.IPv4Address(self.address)
        except ValueError:
            raise ValueError(f"address: {self.address!r} is not an IPv4 address") from None
        if not address.is_link_local:
            raise ValueError(f"address: {address} must be a tunnel inside address (169.254.0.0/16)")
        _asn("remote_asn", self.remote_asn)
        object.__setattr__(self, "accept", _networks("accept", self.accept))


@dataclass(frozen=True)
class FrrSpec:
    """The gateway's BGP speaker: its ASN and router id, what it announces, and its neighbors."""

    local_asn: int
    router_id: str
    """A stable IPv4 address of the gateway (its public address)."""
    advertise: Sequence[str]
    """The on-prem prefixes announced to every AWS neighbor (and nothing else)."""
    neighbors: Sequence[BgpNeighbor]
    keepalive_seconds: int = 10
    hold_time_seconds: int = 30
    maximum_prefix: int = 10
    maximum_prefix_restart_minutes: int = 1
    hostname: str = "onprem-vpn-gateway"
    connect_retry_seconds: int = field(default=10)
    """How often bgpd retries an idle session (FRR's default 120 s would delay recovery after a tunnel flap)."""

    def __post_init__(self) -> None:
        _asn("local_asn", self.local_asn)
        try:
            ipaddress.IPv4Address(self.router_id)
        except ValueError:
            raise ValueError(f"router_id: {self.router_id!r} is not an IPv4 address") from None
        advertise = _networks("advertise", self.advertise)
        object.__setattr__(self, "advertise", advertise)
        neighbors = tuple(self.neighbors)
        if not neighbors:
            raise ValueError("neighbors: at least one is needed")
        object.__setattr__(self, "neighbors", neighbors)
        addresses = [n.address for n in neighbors]
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"neighbors: duplicate addresses in {addresses}")
        for neighbor in neighbors:
            if neighbor.remote_asn == self.local_asn:
                raise ValueError(
                    f"neighbors: {neighbor.tunnel}'s ASN {neighbor.remote_asn} equals local_asn; eBGP needs two ASes"
                )
            for accepted in neighbor.accept:
                for announced in advertise:
                    if ipaddress.IPv4Network(accepted).overlaps(ipaddress.IPv4Network(announced)):
                        raise ValueError(f"neighbors: {neighbor.tunnel} would accept {accepted}, inside {announced}")
        # Per site, every tunnel must accept the same CIDRs (they lead into the same VPC).
        per_site: dict[str, tuple[str, ...]] = {}
        for neighbor in neighbors:
            seen = per_site.setdefault(neighbor.site, tuple(neighbor.accept))
            if seen != tuple(neighbor.accept):
                raise ValueError(f"neighbors: tunnels of {neighbor.site} accept different CIDRs")
        for name in ("keepalive_seconds", "hold_time_seconds", "maximum_prefix", "maximum_prefix_restart_minutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {value!r} must be a positive integer")
        # RFC 4271 4.2/4.4: hold time 0 or >= 3 s, keepalives at most a third of it.
        if self.hold_time_seconds < 3 or self.keepalive_seconds * 3 > self.hold_time_seconds:
            raise ValueError(
                f"hold_time_seconds: {self.hold_time_seconds} must be >= 3 and >= 3 x keepalive_seconds "
                f"({self.keepalive_seconds})"
            )
        if not 1 <= self.connect_retry_seconds <= 65535:
            raise ValueError(f"connect_retry_seconds: {self.connect_retry_seconds} must be 1-65535")
        if not _NAME_RE.match(self.hostname):
            raise ValueError(f"hostname: {self.hostname!r} must be a DNS label")


def _site_list(site: str) -> str:
    return "FROM-" + site.upper()


def render_frr_conf(spec: FrrSpec) -> str:
    """The complete frr.conf (bgpd only; zebra needs no configuration): same input, same bytes."""
    sites: dict[str, tuple[str, ...]] = {}
    for neighbor in spec.neighbors:
        sites.setdefault(neighbor.site, tuple(neighbor.accept))
    timers = f"{spec.keepalive_seconds} {spec.hold_time_seconds}"
    out = [
        "! frr.conf rendered by components/vpn/frr.py; do not edit by hand.",
        "frr defaults traditional",
        f"hostname {spec.hostname}",
        "log stdout informational",
        "!",
        "! Announced to every AWS neighbor: the plan's on-prem prefixes, nothing else (no transit, no default).",
    ]
    out += [f"ip prefix-list ONPREM-OUT seq {10 * i} permit {p}" for i, p in enumerate(spec.advertise, 1)]
    for site, accept in sites.items():
        out.append(f"! Accepted from {site}'s tunnels: exactly its VPC CIDR; the implicit deny drops the rest.")
        out += [f"ip prefix-list {_site_list(site)} seq {10 * i} permit {p}" for i, p in enumerate(accept, 1)]
    out.append("!")
    for site in sites:
        out += [
            f"route-map {_site_list(site)} permit 10",
            f" match ip address prefix-list {_site_list(site)}",
            # RFC 1997 NO_EXPORT: never re-advertised to an eBGP peer (the other region).
            " set community no-export additive",
            "exit",
        ]
    out += [
        "route-map TO-AWS permit 10",
        " match ip address prefix-list ONPREM-OUT",
        "exit",
        "!",
        f"router bgp {spec.local_asn}",
        f" bgp router-id {spec.router_id}",
        " bgp log-neighbor-changes",
        # eBGP sessions carry nothing without explicit policy (FRR's RFC 8212 behaviour, stated, not assumed).
        " bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
        # The plan's aggregates are announced whether or not the node's table holds that exact prefix
        # (on-prem networks are usually reached through more specific routes).
        " no bgp network import-check",
        f" timers bgp {timers}",
    ]
    for n in spec.neighbors:
        out += [
            f" neighbor {n.address} remote-as {n.remote_asn}",
            f" neighbor {n.address} description {n.tunnel}",
            f" neighbor {n.address} timers {timers}",
            f" neighbor {n.address} timers connect {spec.connect_retry_seconds}",
        ]
    out += [" !", " address-family ipv4 unicast"]
    out += [f"  network {p}" for p in spec.advertise]
    out.append("  maximum-paths 1")
    for n in spec.neighbors:
        site_list = _site_list(n.site)
        out += [
            f"  neighbor {n.address} activate",
            f"  neighbor {n.address} soft-reconfiguration inbound",
            f"  neighbor {n.address} prefix-list {site_list} in",
            f"  neighbor {n.address} route-map {site_list} in",
            f"  neighbor {n.address} prefix-list ONPREM-OUT out",
            f"  neighbor {n.address} route-map TO-AWS out",
            f"  neighbor {n.address} maximum-prefix {spec.maximum_prefix} restart "
            f"{spec.maximum_prefix_restart_minutes}",
        ]
    out += [" exit-address-family", "exit", "!"]
    return "\n".join(out) + "\n"
