"""Render strongSwan ``swanctl.conf`` for the on-prem side of an AWS Site-to-Site VPN.

Pure and stdlib-only (no Pulumi): the on-prem stack calls it with values taken from the AWS
VPN connection's tunnel options, and the negotiation tests call it to build both ends of a
real IKEv2 exchange. Inputs use AWS's tunnel-option vocabulary (``Phase1EncryptionAlgorithms``
values such as ``"AES256-GCM-16"``, integrity ``"SHA2-384"``, DH group numbers, ``StartupAction``
``"start"``/``"add"``) so the AWS side and the strongSwan side are written from one source.

The project's crypto policy is enforced here, not merely documented: IKEv2 only, AES-256 (GCM-16
preferred, CBC allowed), SHA2-256/384, DH groups 19-21 for both phases, phase-2 lifetime shorter
than phase-1, DPD of at least 30 s with action ``restart``. Anything else raises ``ValueError``
naming the offending field, so a weaker configuration can never be rendered. (Only the timer
minimums can be lifted, by ``allow_short_timers``, for tests that must fail over in seconds.)

Algorithm lists are sets, not preferences: AWS stores a tunnel's algorithms and DH groups as sets
(terraform-provider-aws ``internal/service/ec2/vpnsite_connection.go``: ``tunnel1_phase1_*`` are
``schema.TypeSet``), so the order the on-prem side reads back says nothing about what was meant.
Every list is therefore put into one fixed strongest-first order (:data:`STRENGTH_ORDER`) before
anything is rendered: the same set always gives the same bytes, whatever order it arrived in.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = [
    "AWS_RESERVED_INSIDE_CIDRS",
    "STRENGTH_ORDER",
    "IkeRetransmission",
    "TunnelSpec",
    "esp_proposals",
    "ike_proposals",
    "ike_retransmission_for",
    "render_swanctl_conf",
]

# --- AWS vocabulary -> strongSwan keywords -------------------------------------------------

_ENCRYPTION = {"AES256-GCM-16": "aes256gcm16", "AES256": "aes256"}
"""Allowed encryption algorithms. GCM is an AEAD: it carries its own integrity check."""
_AEAD = frozenset({"AES256-GCM-16"})
_INTEGRITY = {"SHA2-256": "sha256", "SHA2-384": "sha384"}
# IKEv2 always needs a PRF; AWS has no separate PRF option and uses the phase-1 integrity
# algorithm's hash for it, so the PRF list is derived from the integrity list.
_PRF = {"SHA2-256": "prfsha256", "SHA2-384": "prfsha384"}
_DH_GROUPS = {19: "ecp256", 20: "ecp384", 21: "ecp521"}

STRENGTH_ORDER: dict[str, tuple[str | int, ...]] = {
    # An AEAD (one pass, its own integrity check) over AES-CBC with a separate HMAC.
    "encryption": ("AES256-GCM-16", "AES256"),
    # The longer hash first (also the PRF).
    "integrity": ("SHA2-384", "SHA2-256"),
    # By security strength of the curve: P-521 (~256 bits), P-384 (~192), P-256 (~128).
    "dh_groups": (21, 20, 19),
}
"""The explicit strongest-first order every algorithm list is rendered in (index 0 = offered first)."""

# Values AWS accepts but the project's policy forbids; named so the error says "weaker" rather
# than "unknown" (a typo and a downgrade deserve different messages).
_WEAK_ENCRYPTION = frozenset({"AES128", "AES128-GCM-16", "3DES", "DES"})
_WEAK_INTEGRITY = frozenset({"SHA1", "MD5"})
T = TypeVar("T", str, int)

_STARTUP_ACTIONS = {"start": "start", "add": "none"}
"""AWS ``StartupAction`` -> swanctl ``start_action``: ``add`` means "wait for the peer"."""
_DPD_ACTIONS = frozenset({"restart"})

AWS_RESERVED_INSIDE_CIDRS: tuple[ipaddress.IPv4Network, ...] = tuple(
    ipaddress.IPv4Network(c)
    for c in (
        "169.254.0.0/30",
        "169.254.1.0/30",
        "169.254.2.0/30",
        "169.254.3.0/30",
        "169.254.4.0/30",
        "169.254.5.0/30",
        "169.254.169.252/30",
    )
)
"""Tunnel inside CIDRs AWS refuses (``TunnelInsideCidr`` constraints)."""
_INSIDE_RANGE = ipaddress.IPv4Network("169.254.0.0/16")

# Connection and child names become swanctl section names; '.' is the settings path separator
# and whitespace/braces would break the file, so keep them to a safe alphabet.
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
# AWS's PreSharedKey constraints: 8-64 of [A-Za-z0-9._], not starting with '0'.
_PSK_RE = re.compile(r"^[A-Za-z1-9._][A-Za-z0-9._]{7,63}$")

# AWS tunnel-option ranges (enforced unless a spec opts into test timers).
_AWS_IKE_LIFETIME = (900, 28800)
_AWS_ESP_LIFETIME = (900, 3600)
_AWS_MIN_REKEY_MARGIN = 60
_AWS_MIN_DPD_TIMEOUT = 30


def _tuple_of_str(name: str, values: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str):  # a bare string is a Sequence[str] too; catch the easy mistake
        raise ValueError(f"{name}: expected a list of values, got the string {values!r}")
    out = tuple(values)
    if not out:
        raise ValueError(f"{name}: must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: duplicate entries in {list(out)}")
    return out


def _check_algorithms(name: str, values: tuple[str, ...], allowed: dict[str, str], weak: frozenset[str]) -> None:
    for value in values:
        if value in allowed:
            continue
        if value in weak:
            raise ValueError(f"{name}: {value!r} is weaker than the project policy allows ({sorted(allowed)})")
        raise ValueError(f"{name}: {value!r} is not an allowed algorithm ({sorted(allowed)})")


def _check_dh_groups(name: str, values: Sequence[int]) -> tuple[int, ...]:
    out = tuple(values)
    if not out:
        raise ValueError(f"{name}: must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: duplicate entries in {list(out)}")
    for group in out:
        # bool is an int subclass; True would otherwise read as group 1.
        if isinstance(group, bool) or not isinstance(group, int):
            raise ValueError(f"{name}: {group!r} is not a DH group number")
        if group < 14:
            raise ValueError(
                f"{name}: DH group {group} is weaker than the project policy allows ({sorted(_DH_GROUPS)})"
            )
        if group not in _DH_GROUPS:
            raise ValueError(f"{name}: DH group {group} is outside the project policy ({sorted(_DH_GROUPS)})")
    return out


def _strongest_first(kind: str, values: tuple[T, ...]) -> tuple[T, ...]:
    """``values`` (already checked against the policy) in :data:`STRENGTH_ORDER`, whatever their order."""
    rank = STRENGTH_ORDER[kind]
    return tuple(sorted(values, key=rank.index))


def _check_cidrs(name: str, values: Sequence[str]) -> tuple[str, ...]:
    out = _tuple_of_str(name, values)
    for value in out:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{name}: {value!r} is not a network in CIDR notation ({exc})") from None
    return out


@dataclass(frozen=True)
class TunnelSpec:
    """One IPsec tunnel as seen from the side that will run the rendered configuration.

    Lists are stored as tuples (the dataclass is frozen and hashable). The algorithm and DH-group
    lists are sets: they are stored strongest first (:data:`STRENGTH_ORDER`) whatever order they
    were given in, so two specs of the same sets are equal and render the same bytes. The first
    entry of each is what two peers with such specs negotiate (a strongSwan responder prefers its
    own configured order, which is the same).
    """

    name: str
    """Connection name (also the CHILD_SA name and the ``ike-<name>`` secret)."""
    local_outside_ip: str
    """This side's public address; also its IKE identity."""
    remote_outside_ip: str
    """The peer's public address (an AWS tunnel outside IP, seen from on-prem); also its identity."""
    local_inside_ip: str
    """This side's tunnel inside address with prefix, e.g. ``169.254.10.2/30`` (the customer side)."""
    remote_inside_ip: str
    """The peer's inside address in the same /30, e.g. ``169.254.10.1/30`` (the AWS side)."""
    psk: str = field(repr=False)
    """Pre-shared key (AWS rules: 8-64 of [A-Za-z0-9._], not starting with 0). Kept out of repr."""
    local_traffic_selectors: Sequence[str]
    remote_traffic_selectors: Sequence[str]
    ike_encryption: Sequence[str] = ("AES256-GCM-16",)
    ike_integrity: Sequence[str] = ("SHA2-384", "SHA2-256")
    ike_dh_groups: Sequence[int] = (20, 19, 21)
    esp_encryption: Sequence[str] = ("AES256-GCM-16",)
    esp_integrity: Sequence[str] = ("SHA2-384", "SHA2-256")
    """Ignored for GCM (an AEAD) when building proposals, but still validated: AWS requires it."""
    esp_dh_groups: Sequence[int] = (20, 19, 21)
    """Perfect forward secrecy groups, used when a CHILD_SA is rekeyed."""
    ike_lifetime_seconds: int = 28800
    esp_lifetime_seconds: int = 3600
    rekey_margin_seconds: int = 270
    """AWS ``RekeyMarginTimeSeconds``: rekeys start this long before a lifetime ends."""
    rekey_fuzz_percentage: int = 100
    """AWS ``RekeyFuzzPercentage``: how much of the margin is randomised (avoids rekey collisions)."""
    dpd_delay_seconds: int = 10
    """Idle time before a liveness check; AWS sends its DPD keep-alives every 10 s."""
    dpd_timeout_seconds: int = 30
    """AWS ``DPDTimeoutSeconds``. For IKEv2 strongSwan enforces it through the daemon's
    retransmission settings, see :func:`ike_retransmission_for`."""
    dpd_action: str = "restart"
    startup_action: str = "start"
    """AWS ``StartupAction``: ``start`` initiates, ``add`` only responds."""
    ike_versions: Sequence[str] = ("ikev2",)
    if_id: int | None = None
    """Route-based tunnel: the XFRM interface id (``if_id_in``/``if_id_out``) whose interface carries this
    tunnel's traffic; routes (BGP) decide what enters it, the 0.0.0.0/0 selectors accept everything. None: a
    policy-based tunnel (the traffic selectors decide)."""
    allow_short_timers: bool = False
    """Test-only escape hatch: permit DPD timeouts, lifetimes and margins below AWS's minimums so a
    failover test finishes in seconds. The crypto policy is enforced regardless."""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"name: {self.name!r} must match {_NAME_RE.pattern}")
        self._check_addresses()
        if not isinstance(self.psk, str) or not _PSK_RE.match(self.psk):
            # Never echo the key itself.
            raise ValueError("psk: must be 8-64 of [A-Za-z0-9._] and must not start with '0'")

        for name in ("ike_encryption", "esp_encryption"):
            values = _tuple_of_str(name, getattr(self, name))
            _check_algorithms(name, values, _ENCRYPTION, _WEAK_ENCRYPTION)
            object.__setattr__(self, name, _strongest_first("encryption", values))
        for name in ("ike_integrity", "esp_integrity"):
            values = _tuple_of_str(name, getattr(self, name))
            _check_algorithms(name, values, _INTEGRITY, _WEAK_INTEGRITY)
            object.__setattr__(self, name, _strongest_first("integrity", values))
        for name in ("ike_dh_groups", "esp_dh_groups"):
            groups = _check_dh_groups(name, getattr(self, name))
            object.__setattr__(self, name, _strongest_first("dh_groups", groups))
        for name in ("local_traffic_selectors", "remote_traffic_selectors"):
            object.__setattr__(self, name, _check_cidrs(name, getattr(self, name)))

        versions = _tuple_of_str("ike_versions", self.ike_versions)
        if versions != ("ikev2",):
            raise ValueError(f"ike_versions: only ['ikev2'] is allowed, got {list(versions)} (IKEv1 is forbidden)")
        object.__setattr__(self, "ike_versions", versions)

        # 0 means "no interface" to the kernel and 0xffffffff is reserved (strongSwan: if_id "%unique" range).
        if self.if_id is not None and (
            isinstance(self.if_id, bool) or not isinstance(self.if_id, int) or not 1 <= self.if_id <= 0xFFFFFFFE
        ):
            raise ValueError(f"if_id: {self.if_id!r} must be an integer 1-4294967294")
        if self.dpd_action not in _DPD_ACTIONS:
            raise ValueError(f"dpd_action: {self.dpd_action!r} is not allowed; the policy requires 'restart'")
        if self.startup_action not in _STARTUP_ACTIONS:
            raise ValueError(f"startup_action: {self.startup_action!r} must be one of {sorted(_STARTUP_ACTIONS)}")
        self._check_timers()

    def _check_addresses(self) -> None:
        try:
            local = ipaddress.ip_address(self.local_outside_ip)
        except ValueError:
            raise ValueError(f"local_outside_ip: {self.local_outside_ip!r} is not an IP address") from None
        try:
            remote = ipaddress.ip_address(self.remote_outside_ip)
        except ValueError:
            raise ValueError(f"remote_outside_ip: {self.remote_outside_ip!r} is not an IP address") from None
        if local.version != remote.version:
            raise ValueError("remote_outside_ip: address family differs from local_outside_ip")
        if local == remote:
            raise ValueError("remote_outside_ip: must differ from local_outside_ip")

        inside: dict[str, ipaddress.IPv4Interface] = {}
        for name in ("local_inside_ip", "remote_inside_ip"):
            value = getattr(self, name)
            try:
                iface = ipaddress.IPv4Interface(value)
            except ValueError:
                raise ValueError(f"{name}: {value!r} is not an IPv4 address with prefix") from None
            net = iface.network
            if net.prefixlen != 30 or not net.subnet_of(_INSIDE_RANGE):
                raise ValueError(f"{name}: {value!r} must be in a /30 inside 169.254.0.0/16")
            if any(net == reserved for reserved in AWS_RESERVED_INSIDE_CIDRS):
                raise ValueError(f"{name}: {net} is reserved by AWS")
            if iface.ip in (net.network_address, net.broadcast_address):
                raise ValueError(f"{name}: {iface.ip} is the network or broadcast address of {net}")
            inside[name] = iface
        if inside["local_inside_ip"].network != inside["remote_inside_ip"].network:
            raise ValueError("remote_inside_ip: must be in the same /30 as local_inside_ip")
        if inside["local_inside_ip"].ip == inside["remote_inside_ip"].ip:
            raise ValueError("remote_inside_ip: must differ from local_inside_ip")

    def _check_timers(self) -> None:
        for name in (
            "ike_lifetime_seconds",
            "esp_lifetime_seconds",
            "rekey_margin_seconds",
            "dpd_delay_seconds",
            "dpd_timeout_seconds",
            "rekey_fuzz_percentage",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: {value!r} must be a non-negative integer")
        if self.esp_lifetime_seconds >= self.ike_lifetime_seconds:
            raise ValueError(
                f"esp_lifetime_seconds: {self.esp_lifetime_seconds} must be shorter than "
                f"ike_lifetime_seconds ({self.ike_lifetime_seconds})"
            )
        # Rekeying must start while at least half the CHILD_SA lifetime remains unspent, otherwise
        # the randomised rekey time could fall before the SA was even installed (AWS's own rule).
        if not 1 <= self.rekey_margin_seconds <= self.esp_lifetime_seconds // 2:
            raise ValueError(
                f"rekey_margin_seconds: {self.rekey_margin_seconds} must be between 1 and half of "
                f"esp_lifetime_seconds ({self.esp_lifetime_seconds // 2})"
            )
        if self.rekey_fuzz_percentage > 100:
            raise ValueError(f"rekey_fuzz_percentage: {self.rekey_fuzz_percentage} must be 0-100")
        if not 1 <= self.dpd_delay_seconds < self.dpd_timeout_seconds:
            raise ValueError(
                f"dpd_delay_seconds: {self.dpd_delay_seconds} must be at least 1 and shorter than "
                f"dpd_timeout_seconds ({self.dpd_timeout_seconds})"
            )
        if self.allow_short_timers:
            return
        if self.dpd_timeout_seconds < _AWS_MIN_DPD_TIMEOUT:
            raise ValueError(f"dpd_timeout_seconds: {self.dpd_timeout_seconds} is below the minimum of 30")
        low, high = _AWS_IKE_LIFETIME
        if not low <= self.ike_lifetime_seconds <= high:
            raise ValueError(f"ike_lifetime_seconds: {self.ike_lifetime_seconds} is outside AWS's {low}-{high}")
        low, high = _AWS_ESP_LIFETIME
        if not low <= self.esp_lifetime_seconds <= high:
            raise ValueError(f"esp_lifetime_seconds: {self.esp_lifetime_seconds} is outside AWS's {low}-{high}")
        if self.rekey_margin_seconds < _AWS_MIN_REKEY_MARGIN:
            raise ValueError(f"rekey_margin_seconds: {self.rekey_margin_seconds} is below AWS's minimum of 60")

    def mirrored(self, *, name: str | None = None, startup_action: str = "add", if_id: int | None = None) -> TunnelSpec:
        """The same tunnel seen from the peer: local and remote swapped, same PSK and algorithms.

        ``startup_action`` defaults to ``add`` because that is AWS's default: the AWS endpoint
        waits for the customer gateway to initiate.
        """
        return TunnelSpec(
            name=name or self.name,
            local_outside_ip=self.remote_outside_ip,
            remote_outside_ip=self.local_outside_ip,
            local_inside_ip=self.remote_inside_ip,
            remote_inside_ip=self.local_inside_ip,
            psk=self.psk,
            local_traffic_selectors=self.remote_traffic_selectors,
            remote_traffic_selectors=self.local_traffic_selectors,
            ike_encryption=self.ike_encryption,
            ike_integrity=self.ike_integrity,
            ike_dh_groups=self.ike_dh_groups,
            esp_encryption=self.esp_encryption,
            esp_integrity=self.esp_integrity,
            esp_dh_groups=self.esp_dh_groups,
            ike_lifetime_seconds=self.ike_lifetime_seconds,
            esp_lifetime_seconds=self.esp_lifetime_seconds,
            rekey_margin_seconds=self.rekey_margin_seconds,
            rekey_fuzz_percentage=self.rekey_fuzz_percentage,
            dpd_delay_seconds=self.dpd_delay_seconds,
            dpd_timeout_seconds=self.dpd_timeout_seconds,
            dpd_action=self.dpd_action,
            startup_action=startup_action,
            ike_versions=self.ike_versions,
            if_id=if_id,
            allow_short_timers=self.allow_short_timers,
        )


# --- proposals -------------------------------------------------------------------------------


def ike_proposals(spec: TunnelSpec) -> list[str]:
    """IKE proposals, one per encryption algorithm (strongSwan forbids mixing AEAD and non-AEAD
    algorithms in one proposal). Each lists every allowed integrity/PRF and DH group, all
    strongest first, e.g. ``aes256gcm16-prfsha384-prfsha256-ecp521-ecp384-ecp256``."""
    prfs = [_PRF[i] for i in spec.ike_integrity]
    groups = [_DH_GROUPS[g] for g in spec.ike_dh_groups]
    out = []
    for enc in spec.ike_encryption:
        # GCM authenticates by itself, so it takes no integrity algorithm, only a PRF.
        integ = [] if enc in _AEAD else [_INTEGRITY[i] for i in spec.ike_integrity]
        out.append("-".join([_ENCRYPTION[enc], *integ, *prfs, *groups]))
    return out


def esp_proposals(spec: TunnelSpec) -> list[str]:
    """ESP proposals, one per encryption algorithm; the DH groups request PFS on CHILD_SA rekeys
    (the first CHILD_SA reuses the IKE_SA's keying material and shows no group)."""
    groups = [_DH_GROUPS[g] for g in spec.esp_dh_groups]
    out = []
    for enc in spec.esp_encryption:
        integ = [] if enc in _AEAD else [_INTEGRITY[i] for i in spec.esp_integrity]
        out.append("-".join([_ENCRYPTION[enc], *integ, *groups]))
    return out


# --- IKEv2 liveness timeout ------------------------------------------------------------------


@dataclass(frozen=True)
class IkeRetransmission:
    """charon's global retransmission settings (``charon.retransmit_*`` in strongswan.conf).

    strongSwan's ``dpd_timeout`` applies to IKEv1 only. With IKEv2 a DPD is an INFORMATIONAL
    exchange that is retransmitted like any other request, and the peer is declared dead when
    the retransmissions run out. With ``base = 1`` that takes ``timeout * (tries + 1)`` seconds.
    """

    timeout_seconds: float
    tries: int
    base: float = 1.0

    @property
    def total_seconds(self) -> float:
        """Seconds from sending a request until the peer is declared dead."""
        return sum(self.timeout_seconds * self.base**n for n in range(self.tries + 1))

    def strongswan_conf_lines(self) -> list[str]:
        """``key = value`` lines for the ``charon { ... }`` section of strongswan.conf."""
        return [
            f"retransmit_timeout = {self.timeout_seconds:.3f}",
            f"retransmit_tries = {self.tries}",
            f"retransmit_base = {self.base:.3f}",
        ]


def ike_retransmission_for(tunnels: Sequence[TunnelSpec], *, tries: int = 5) -> IkeRetransmission:
    """Retransmission settings that make charon give up on a silent peer after the tunnels' DPD
    timeout. The settings are per daemon, so the shortest timeout of the tunnels it serves wins
    (AWS's default 30 s gives 5 retransmissions 5 s apart)."""
    if not tunnels:
        raise ValueError("tunnels: at least one tunnel is needed")
    if tries < 1:
        raise ValueError(f"tries: {tries} must be at least 1")
    timeout = min(t.dpd_timeout_seconds for t in tunnels)
    return IkeRetransmission(timeout_seconds=timeout / (tries + 1), tries=tries)


# --- rendering -------------------------------------------------------------------------------


def _seconds(value: int) -> str:
    return f"{value}s"


def _render_connection(spec: TunnelSpec) -> list[str]:
    start_action = _STARTUP_ACTIONS[spec.startup_action]
    initiator = start_action == "start"
    margin = spec.rekey_margin_seconds
    rand = margin * spec.rekey_fuzz_percentage // 100
    local_inside = ipaddress.IPv4Interface(spec.local_inside_ip)
    remote_inside = ipaddress.IPv4Interface(spec.remote_inside_ip)
    lines = [
        f"{spec.name} {{",
        f"  # Tunnel inside addresses (BGP peering over this tunnel): local {local_inside}, remote {remote_inside}",
        "  version = 2",
        f"  local_addrs = {spec.local_outside_ip}",
        f"  remote_addrs = {spec.remote_outside_ip}",
        f"  proposals = {', '.join(ike_proposals(spec))}",
        # AWS does not support MOBIKE, and both tunnels share the local address anyway.
        "  mobike = no",
        # An initiator keeps trying forever so a tunnel comes back by itself after AWS endpoint
        # maintenance; a responder never initiates, so one try is all it could use.
        f"  keyingtries = {0 if initiator else 1}",
        f"  dpd_delay = {_seconds(spec.dpd_delay_seconds)}",
        f"  # DPD timeout {spec.dpd_timeout_seconds}s: for IKEv2 enforced by charon.retransmit_* in strongswan.conf",
        # IKE_SA: rekey `margin` (minus up to `rand`) before the lifetime; hard expiry at the lifetime.
        f"  rekey_time = {_seconds(spec.ike_lifetime_seconds - margin)}",
        f"  over_time = {_seconds(margin)}",
        f"  rand_time = {_seconds(rand)}",
        # Route-based: SAs and policies bound to the XFRM interface with this id (both directions).
        *([f"  if_id_in = {spec.if_id}", f"  if_id_out = {spec.if_id}"] if spec.if_id is not None else []),
        "  local {",
        "    auth = psk",
        f"    id = {spec.local_outside_ip}",
        "  }",
        "  remote {",
        "    auth = psk",
        f"    id = {spec.remote_outside_ip}",
        "  }",
        "  children {",
        f"    {spec.name} {{",
        "      mode = tunnel",
        f"      local_ts = {', '.join(spec.local_traffic_selectors)}",
        f"      remote_ts = {', '.join(spec.remote_traffic_selectors)}",
        f"      esp_proposals = {', '.join(esp_proposals(spec))}",
        f"      start_action = {start_action}",
        # If the peer deletes the CHILD_SA (e.g. AWS replacing an endpoint), an initiator
        # re-creates it instead of leaving the tunnel without traffic.
        f"      close_action = {'start' if initiator else 'none'}",
        f"      dpd_action = {spec.dpd_action}",
        f"      rekey_time = {_seconds(spec.esp_lifetime_seconds - margin)}",
        f"      life_time = {_seconds(spec.esp_lifetime_seconds)}",
        f"      rand_time = {_seconds(rand)}",
        "    }",
        "  }",
        "}",
    ]
    return lines


def _render_secret(spec: TunnelSpec) -> list[str]:
    return [
        f"ike-{spec.name} {{",
        f"  id-local = {spec.local_outside_ip}",
        f"  id-remote = {spec.remote_outside_ip}",
        # Hex-encoded (0x prefix, understood by swanctl) so no character of the key can ever
        # need quoting or break the file's syntax.
        f"  secret = 0x{spec.psk.encode('ascii').hex()}",
        "}",
    ]


def _indent(lines: list[str], depth: int = 1) -> list[str]:
    return [("  " * depth + line) if line else line for line in lines]


def render_swanctl_conf(tunnels: Sequence[TunnelSpec], *, role_comment: str = "") -> str:
    """A complete swanctl.conf: one connection per tunnel and one ``ike-<name>`` PSK each.

    One setting per line (swanctl's parser needs it), tunnels in the given order, no timestamps:
    the same input always gives the same bytes, so a Pulumi diff only shows real changes.
    """
    tunnels = list(tunnels)
    if not tunnels:
        raise ValueError("tunnels: at least one tunnel is needed")
    names = [t.name for t in tunnels]
    if len(set(names)) != len(names):
        raise ValueError(f"tunnels: duplicate tunnel names in {names}")
    # A PSK is looked up by (local id, remote id), and a connection by its addresses: two
    # tunnels between the same pair of addresses would be ambiguous.
    pairs = [(t.local_outside_ip, t.remote_outside_ip) for t in tunnels]
    if len(set(pairs)) != len(pairs):
        raise ValueError("tunnels: two tunnels share the same local and remote outside addresses")

    out = ["# swanctl.conf rendered by components/vpn/swanctl.py; do not edit by hand."]
    out += [f"# {line}".rstrip() for line in role_comment.splitlines()]
    out.append("connections {")
    for spec in tunnels:
        out += _indent(_render_connection(spec))
    out.append("}")
    out.append("secrets {")
    for spec in tunnels:
        out += _indent(_render_secret(spec))
    out.append("}")
    return "\n".join(out) + "\n"
