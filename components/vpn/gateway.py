"""Everything the on-prem gateway runs, rendered from the AWS stacks' ``vpn`` exports: pure and stdlib-only.

Route-based design (AWS: a BGP connection's tunnels carry ``0.0.0.0/0`` traffic selectors, and the routes
learned over BGP decide what enters each tunnel):

* one XFRM interface per tunnel (``xfrm<if_id>``, the tunnel's customer inside address on it), created by
  :func:`render_interfaces_script` before charon starts;
* one swanctl connection per tunnel with ``if_id_in``/``if_id_out`` = that interface's id and ``0.0.0.0/0``
  selectors both ways (:func:`peer_tunnel_specs`); charon installs no routes (``install_routes = no``);
* FRR's bgpd peers with each tunnel's AWS inside address over its interface and installs the learned VPC
  routes through zebra (:func:`gateway_frr_spec`, rendered by :mod:`components.vpn.frr`);
* policy-routing rules let a packet from a tunnel reach only the announced on-prem prefixes (no transit
  between the AWS regions in the data plane either).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.vpn.frr import BgpNeighbor, FrrSpec, render_frr_conf
from components.vpn.swanctl import TunnelSpec, ike_retransmission_for, render_swanctl_conf

__all__ = [
    "ROUTE_BASED_SELECTOR",
    "GatewayBgp",
    "PeerExport",
    "gateway_frr_spec",
    "interface_name",
    "peer_tunnel_specs",
    "render_gateway_configs",
    "render_interfaces_script",
    "render_strongswan_conf",
]

ROUTE_BASED_SELECTOR = "0.0.0.0/0"
"""Both traffic selectors of a route-based tunnel (what AWS negotiates for a BGP connection)."""


def interface_name(if_id: int) -> str:
    """The XFRM interface of a tunnel (at most 15 characters: ``xfrm`` and up to 10 digits)."""
    return f"xfrm{if_id}"


@dataclass(frozen=True)
class GatewayBgp:
    """The gateway's BGP settings (from ``vpnGateway.bgp`` and the address plan)."""

    local_asn: int
    advertise: Sequence[str]
    keepalive_seconds: int = 10
    hold_time_seconds: int = 30
    maximum_prefix: int = 10
    maximum_prefix_restart_minutes: int = 1


@dataclass(frozen=True)
class PeerExport:
    """One AWS site's exports, resolved: its ``vpn`` output, its keys, and the VPC CIDRs it may announce."""

    site: str
    vpn: Mapping[str, Any] | None
    keys: Sequence[str] | None
    accept: Sequence[str]


def peer_tunnel_specs(
    site: str, local_public_ip: str, vpn: Mapping[str, Any] | None, keys: Sequence[str] | None, first_if_id: int = 1
) -> list[TunnelSpec]:
    """The on-prem side's TunnelSpecs of one AWS site, route-based, interface ids from ``first_if_id`` on."""
    if not vpn:
        return []
    tunnels = list(vpn["tunnels"])
    if keys is None or len(keys) != len(tunnels):
        raise ValueError(f"{site}: {len(tunnels)} tunnels but {0 if keys is None else len(keys)} pre-shared keys")
    specs = []
    for index, (tunnel, psk) in enumerate(zip(tunnels, keys, strict=True), 1):
        specs.append(
            TunnelSpec(
                name=f"{site}-t{index}",
                local_outside_ip=local_public_ip,
                remote_outside_ip=tunnel["outsideAddress"],
                local_inside_ip=tunnel["customerInsideAddress"],
                remote_inside_ip=tunnel["awsInsideAddress"],
                psk=psk,
                local_traffic_selectors=[ROUTE_BASED_SELECTOR],
                remote_traffic_selectors=[ROUTE_BASED_SELECTOR],
                ike_encryption=tunnel["phase1EncryptionAlgorithms"],
                ike_integrity=tunnel["phase1IntegrityAlgorithms"],
                ike_dh_groups=[int(g) for g in tunnel["phase1DhGroupNumbers"]],
                esp_encryption=tunnel["phase2EncryptionAlgorithms"],
                esp_integrity=tunnel["phase2IntegrityAlgorithms"],
                esp_dh_groups=[int(g) for g in tunnel["phase2DhGroupNumbers"]],
                ike_lifetime_seconds=int(tunnel["phase1LifetimeSeconds"]),
                esp_lifetime_seconds=int(tunnel["phase2LifetimeSeconds"]),
                rekey_margin_seconds=int(tunnel["rekeyMarginTimeSeconds"]),
                rekey_fuzz_percentage=int(tunnel["rekeyFuzzPercentage"]),
                dpd_timeout_seconds=int(tunnel["dpdTimeoutSeconds"]),
                dpd_action=tunnel["dpdTimeoutAction"],
                # The gateway always initiates; AWS's StartupAction 'add' waits for it.
                startup_action="start",
                ike_versions=tunnel["ikeVersions"],
                if_id=first_if_id + index - 1,
            )
        )
    return specs


def _all_specs(local_public_ip: str, peers: Sequence[PeerExport]) -> list[TunnelSpec]:
    specs: list[TunnelSpec] = []
    for peer in peers:
        specs += peer_tunnel_specs(peer.site, local_public_ip, peer.vpn, peer.keys, first_if_id=len(specs) + 1)
    return specs


def render_strongswan_conf(specs: Sequence[TunnelSpec]) -> str:
    """The daemon settings of the gateway: the DPD timeout as IKEv2 retransmissions; no routes from charon
    (FRR installs them: with 0.0.0.0/0 selectors charon's own routes would capture all traffic); bypass-lan
    off (it would route the peers' own outside network past the tunnels)."""
    lines = [
        "# strongswan.conf rendered by components/vpn/gateway.py; do not edit by hand.",
        "charon {",
        "  install_routes = no",
    ]
    if specs:
        lines += [f"  {line}" for line in ike_retransmission_for(specs).strongswan_conf_lines()]
    lines += [
        "  plugins {",
        "    bypass-lan {",
        "      load = no",
        "    }",
        "  }",
        "  filelog {",
        "    stderr {",
        "      default = 1",
        "    }",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


ALLOW_RULE_PRIORITY = 2000
DENY_RULE_PRIORITY = 3000
"""Policy-routing rule priorities of the transit filter (before the default ``32766: lookup main``)."""


def render_interfaces_script(specs: Sequence[TunnelSpec], allowed: Sequence[str] = ()) -> str:
    """POSIX sh creating one XFRM interface per tunnel (idempotent: an existing one is replaced), the
    customer inside address on it. ``dev`` is the interface of the node's default route: the one IKE and
    ESP leave through.

    Then the data-plane half of "no transit": a packet that arrives from a tunnel may only be forwarded to
    ``allowed`` (the announced on-prem prefixes); everything else from that interface is refused by a
    ``prohibit`` rule (iproute2 only, no firewall tool needed in the image). BGP already never offers one
    region's routes to the other; this also stops a packet that a misconfigured VPC route sent into a tunnel
    anyway. Local delivery (BGP to the inside address) is decided by the ``local`` table at priority 0 first.
    """
    lines = [
        "# xfrm-interfaces.sh rendered by components/vpn/gateway.py; do not edit by hand.",
        "set -eu",
        "dev=$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == \"dev\") {print $(i + 1); exit}}')",
        '[ -n "$dev" ] || { echo "no default route: cannot tell the outside interface" >&2; exit 1; }',
    ]
    for spec in specs:
        assert spec.if_id is not None, "route-based tunnels only"
        name = interface_name(spec.if_id)
        lines += [
            f"# {spec.name}: peer {spec.remote_outside_ip}, BGP neighbor {spec.remote_inside_ip}",
            f"ip link del {name} 2>/dev/null || true",
            f'ip link add {name} type xfrm dev "$dev" if_id {spec.if_id}',
            f"ip addr add {spec.local_inside_ip} dev {name}",
            f"ip link set {name} up",
        ]
    if specs and allowed:
        lines.append("# No transit: from a tunnel, only the announced on-prem prefixes are reachable.")
        for priority in (ALLOW_RULE_PRIORITY, DENY_RULE_PRIORITY):
            lines.append(f"while ip rule del priority {priority} 2>/dev/null; do :; done")
        for spec in specs:
            name = interface_name(spec.if_id or 0)
            lines += [f"ip rule add priority {ALLOW_RULE_PRIORITY} iif {name} to {p} lookup main" for p in allowed]
            lines.append(f"ip rule add priority {DENY_RULE_PRIORITY} iif {name} prohibit")
    return "\n".join(lines) + "\n"


def gateway_frr_spec(local_public_ip: str, peers: Sequence[PeerExport], bgp: GatewayBgp) -> FrrSpec | None:
    """The FRR spec: a neighbor per tunnel (its AWS inside address and Amazon-side ASN, accepting that site's
    VPC CIDRs). The hold time is the lower of the configured one and what AWS reports for the tunnel (BGP
    uses the lower of the two ends anyway, RFC 4271 4.2); None when no peer exports a VPN."""
    neighbors = []
    hold = bgp.hold_time_seconds
    for peer in peers:
        if not peer.vpn:
            continue
        for index, tunnel in enumerate(peer.vpn["tunnels"], 1):
            neighbors.append(
                BgpNeighbor(
                    site=peer.site,
                    tunnel=f"{peer.site}-t{index}",
                    address=str(ipaddress.IPv4Interface(tunnel["awsInsideAddress"]).ip),
                    remote_asn=int(tunnel["awsBgpAsn"]),
                    accept=list(peer.accept),
                )
            )
            if tunnel.get("bgpHoldtime"):
                hold = min(hold, int(tunnel["bgpHoldtime"]))
    if not neighbors:
        return None
    return FrrSpec(
        local_asn=bgp.local_asn,
        router_id=local_public_ip,
        advertise=list(bgp.advertise),
        neighbors=neighbors,
        keepalive_seconds=min(bgp.keepalive_seconds, hold // 3),
        hold_time_seconds=hold,
        maximum_prefix=bgp.maximum_prefix,
        maximum_prefix_restart_minutes=bgp.maximum_prefix_restart_minutes,
    )


@dataclass(frozen=True)
class GatewayFiles:
    swanctl_conf: str
    strongswan_conf: str
    interfaces_script: str
    frr_conf: str


def render_gateway_configs(local_public_ip: str, peers: Sequence[PeerExport], bgp: GatewayBgp) -> GatewayFiles:
    """Every file the gateway needs, for every tunnel of every peer, in peer order."""
    specs = _all_specs(local_public_ip, peers)
    swanctl = (
        render_swanctl_conf(specs, role_comment="on-prem gateway to the AWS sites' VPN connections (route-based)")
        if specs
        else "# no VPN tunnels: no AWS stack exports a VPN\n"
    )
    frr = gateway_frr_spec(local_public_ip, peers, bgp)
    return GatewayFiles(
        swanctl_conf=swanctl,
        strongswan_conf=render_strongswan_conf(specs),
        interfaces_script=render_interfaces_script(specs, bgp.advertise),
        frr_conf=render_frr_conf(frr) if frr else "! no BGP neighbors: no AWS stack exports a VPN\n",
    )
