"""Typed config of the site-to-site VPN: the AWS side's tunnel options and the on-prem gateway.

The AWS stack's ``hybrid-llm-infra:vpn`` holds the tunnel options (both tunnels get the same ones);
the on-prem stack does not repeat them: it reads what each AWS stack configured from that stack's
outputs, so both ends are written from one source. The allowed values are the project's crypto
policy (the same one ``components/vpn/swanctl.py`` enforces): IKEv2 only, AES-256 (GCM-16
preferred), SHA2-256/384, DH groups 19-21, phase-2 lifetime shorter than phase 1, DPD >= 30 s
with restart.

Checks that need more than one field (lifetimes, the PSK override, the address plan's inside
CIDRs for this site) are in :func:`vpn_problems`, which reports config key paths and never echoes
a pre-shared key.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from stackconfig.errors import Problem
from stackconfig.inference import Image
from stackconfig.types import PROJECT, Cidr

if TYPE_CHECKING:
    from stackconfig.models import AddressPlan


Encryption = Literal["AES256-GCM-16", "AES256"]
Integrity = Literal["SHA2-384", "SHA2-256"]
DhGroup = Literal[19, 20, 21]

PSK_RULE = "8-64 characters of letters, digits, '.' and '_', not starting with '0'"
_PSK_RE = re.compile(r"^[A-Za-z1-9._][A-Za-z0-9._]{7,63}$")
TUNNELS_PER_CONNECTION = 2


def _encryption() -> list[Encryption]:
    return ["AES256-GCM-16"]


def _integrity() -> list[Integrity]:
    return ["SHA2-384", "SHA2-256"]


def _dh_groups() -> list[DhGroup]:
    return [20, 19, 21]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class VpnConfig(_Model):
    """The AWS side of the site-to-site VPN to the on-prem gateway (both tunnels get these options)."""

    enabled: bool = Field(default=True, description="Build the VPN (customer gateway, VGW, connection).")
    # The algorithm and DH-group lists are sets: AWS stores them as sets (TypeSet in terraform-provider-aws'
    # vpnsite_connection.go), so their order carries no preference; the gateway offers them strongest first.
    phase1_encryption_algorithms: list[Encryption] = Field(
        default_factory=_encryption, min_length=1, description="IKE encryption (a set; offered strongest first)."
    )
    phase1_integrity_algorithms: list[Integrity] = Field(
        default_factory=_integrity, min_length=1, description="IKE integrity/PRF."
    )
    phase1_dh_group_numbers: list[DhGroup] = Field(default_factory=_dh_groups, min_length=1)
    phase2_encryption_algorithms: list[Encryption] = Field(default_factory=_encryption, min_length=1)
    phase2_integrity_algorithms: list[Integrity] = Field(default_factory=_integrity, min_length=1)
    phase2_dh_group_numbers: list[DhGroup] = Field(
        default_factory=_dh_groups, min_length=1, description="PFS groups for CHILD_SA rekeys."
    )
    phase1_lifetime_seconds: int = Field(default=28800, ge=900, le=28800, description="IKE_SA lifetime (AWS range).")
    phase2_lifetime_seconds: int = Field(default=3600, ge=900, le=3600, description="CHILD_SA lifetime (AWS range).")
    rekey_margin_time_seconds: int = Field(default=540, ge=60, description="Rekey this long before expiry.")
    rekey_fuzz_percentage: int = Field(default=100, ge=0, le=100)
    dpd_timeout_seconds: int = Field(default=30, ge=30, description="Dead peer detection timeout (AWS: >= 30).")
    dpd_timeout_action: Literal["restart"] = Field(default="restart", description="Re-initiate after a DPD timeout.")
    startup_action: Literal["add", "start"] = Field(
        default="add", description="add: AWS waits for the on-prem gateway to initiate; start: AWS initiates."
    )
    log_retention_days: int = Field(default=365, description="Retention of the tunnel log groups, in days.")
    preshared_keys: list[SecretStr] | None = Field(
        default=None,
        description="Override the generated PSKs (one per tunnel; set with `pulumi config set --secret --path`).",
    )

    def duplicates(self) -> list[tuple[str, list[object]]]:
        lists: list[tuple[str, list[object]]] = [
            ("phase1EncryptionAlgorithms", list(self.phase1_encryption_algorithms)),
            ("phase1IntegrityAlgorithms", list(self.phase1_integrity_algorithms)),
            ("phase1DhGroupNumbers", list(self.phase1_dh_group_numbers)),
            ("phase2EncryptionAlgorithms", list(self.phase2_encryption_algorithms)),
            ("phase2IntegrityAlgorithms", list(self.phase2_integrity_algorithms)),
            ("phase2DhGroupNumbers", list(self.phase2_dh_group_numbers)),
        ]
        return [(key, values) for key, values in lists if len(set(values)) != len(values)]


# Kubernetes label/taint key: an optional DNS-subdomain prefix and '/', then a name of at most 63 characters.
_QUALIFIED_NAME = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
_LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
GATEWAY_NODE_KEY = "node-role.hybrid-llm-infra/vpn-gateway"


class NodeTaintConfig(_Model):
    """A taint the edge nodes carry (``kubectl taint nodes <node> key=value:effect``); the gateway tolerates it."""

    key: str = Field(default=GATEWAY_NODE_KEY, max_length=316, pattern=_QUALIFIED_NAME)
    value: str = Field(default="true", pattern=_LABEL_VALUE)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        default="NoSchedule", description="NoSchedule keeps every pod without the toleration off the edge nodes."
    )


class BgpConfig(_Model):
    """BGP of the on-prem gateway (FRR) toward both tunnels of every AWS site.

    Timers: AWS's own customer-gateway configuration files set keepalive 10 s / hold 30 s ("timers 10 30 30",
    "adjusted to provide more rapid detection of outages"), and BGP uses the lower hold time of the two ends
    (RFC 4271, 4.2), so a hold time above 30 s would still be negotiated down to AWS's 30 s. A silent tunnel is
    declared dead at most ``holdTimeSeconds`` after it stopped carrying messages. No BFD: AWS Site-to-Site VPN
    does not offer it (only Direct Connect does).
    """

    keepalive_seconds: int = Field(default=10, ge=1, le=10, description="BGP keepalive interval.")
    hold_time_seconds: int = Field(
        default=30, ge=3, le=30, description="BGP hold time (>= 3 x keepalive; AWS negotiates at most 30)."
    )
    maximum_prefix: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Per neighbor: more accepted prefixes than this tears the session down.",
    )
    maximum_prefix_restart_minutes: int = Field(
        default=1, ge=1, le=60, description="A session torn down by maximum-prefix comes back after this long."
    )
    advertise_prefixes: list[Cidr] | None = Field(
        default=None,
        description="On-prem prefixes announced to AWS (each inside addressPlan.onprem.cidrs); null: all of them.",
    )


class OnPremVpnGatewayConfig(_Model):
    """The strongSwan + FRR gateway the on-prem stack runs on its labelled, tainted edge nodes."""

    # Tag only: no digest of this tag could be verified offline (no public record of it was found); production
    # waives exactly this default by name until one is pinned (stackconfig.images.UNPINNED_SHIPPED_DEFAULTS).
    image: Image = Field(
        default="docker.io/strongx509/strongswan:5.9.14",
        description="strongSwan container image: repository:tag, repository@sha256:<64 hex> or both.",
    )
    # Tag only, like strongSwan's: no digest of this tag could be verified offline; waived by name the same way.
    frr_image: Image = Field(
        default="quay.io/frrouting/frr:8.4.4",
        description="FRR container image (zebra and bgpd), the same release as the lab's Debian frr 8.4.4.",
    )
    bgp: BgpConfig = Field(default_factory=BgpConfig, description="BGP toward the AWS sites' tunnels.")
    node_selector_label: str = Field(
        default=GATEWAY_NODE_KEY,
        max_length=316,
        pattern=_QUALIFIED_NAME,
        description="Nodes with this label set to 'true' run the gateway (the edge nodes with the public IP).",
    )
    node_taint: NodeTaintConfig = Field(
        default_factory=NodeTaintConfig,
        description="The taint the edge nodes carry so that only the gateway (which tolerates it) runs there.",
    )
    deploy: bool = Field(
        default=True, description="Run the gateway on the cluster (false: render the config only, for an appliance)."
    )


def vpn_problems(vpn: VpnConfig, plan: AddressPlan, site: str) -> list[Problem]:
    """Problems of an AWS stack's VPN config that single fields cannot express."""
    if not vpn.enabled:
        return []
    base = f"{PROJECT}:vpn"
    problems = [
        Problem(f"{base}.{key}", f"duplicate entries in {values}; each value may appear once")
        for key, values in vpn.duplicates()
    ]
    if vpn.phase2_lifetime_seconds >= vpn.phase1_lifetime_seconds:
        problems.append(
            Problem(
                f"{base}.phase2LifetimeSeconds",
                f"{vpn.phase2_lifetime_seconds} must be shorter than phase1LifetimeSeconds "
                f"({vpn.phase1_lifetime_seconds})",
            )
        )
    if vpn.rekey_margin_time_seconds > vpn.phase2_lifetime_seconds // 2:
        problems.append(
            Problem(
                f"{base}.rekeyMarginTimeSeconds",
                f"{vpn.rekey_margin_time_seconds} must be at most half of phase2LifetimeSeconds "
                f"({vpn.phase2_lifetime_seconds // 2})",
            )
        )
    from stackconfig.models import LOG_RETENTION_DAYS  # models imports this module

    if vpn.log_retention_days not in LOG_RETENTION_DAYS:
        problems.append(
            Problem(f"{base}.logRetentionDays", f"{vpn.log_retention_days}: CloudWatch Logs does not allow it")
        )
    if vpn.preshared_keys is not None:
        if len(vpn.preshared_keys) != TUNNELS_PER_CONNECTION:
            problems.append(
                Problem(f"{base}.presharedKeys", f"needs exactly {TUNNELS_PER_CONNECTION} keys, one per tunnel")
            )
        for index, key in enumerate(vpn.preshared_keys):
            # The key itself is never part of the message.
            if not _PSK_RE.match(key.get_secret_value()):
                problems.append(Problem(f"{base}.presharedKeys[{index}]", f"breaks AWS's rules: {PSK_RULE}"))
    problems += _plan_problems(plan, site)
    return problems


def _plan_problems(plan: AddressPlan, site: str) -> list[Problem]:
    site_plan = plan.aws_sites.get(site)
    if site_plan is None:
        return []  # reported by the loader (deployment.site)
    problems = []
    path = f"{PROJECT}:addressPlan.awsSites.{site}.tunnelInsideCidrs"
    if len(site_plan.tunnel_inside_cidrs) != TUNNELS_PER_CONNECTION:
        problems.append(
            Problem(
                path,
                f"the VPN needs exactly {TUNNELS_PER_CONNECTION} /30s, one per tunnel "
                f"(got {len(site_plan.tunnel_inside_cidrs)})",
            )
        )
    return problems


def advertised_prefixes(gateway: OnPremVpnGatewayConfig, plan: AddressPlan) -> list[str]:
    """What the gateway announces to AWS: ``bgp.advertisePrefixes`` or, by default, every on-prem CIDR."""
    chosen = gateway.bgp.advertise_prefixes
    return list(plan.onprem.cidrs if chosen is None else chosen)


def gateway_problems(gateway: OnPremVpnGatewayConfig, plan: AddressPlan) -> list[Problem]:
    """Problems of the on-prem gateway's BGP config that single fields cannot express."""
    base = f"{PROJECT}:vpnGateway.bgp"
    problems = []
    bgp = gateway.bgp
    # RFC 4271 4.4: keepalives at most a third of the hold time, or one lost keepalive drops the session.
    if bgp.keepalive_seconds * 3 > bgp.hold_time_seconds:
        problems.append(
            Problem(
                f"{base}.keepaliveSeconds",
                f"{bgp.keepalive_seconds} must be at most a third of holdTimeSeconds ({bgp.hold_time_seconds})",
            )
        )
    allowed = [ipaddress.IPv4Network(c) for c in plan.onprem.cidrs]
    chosen = bgp.advertise_prefixes or []
    if bgp.advertise_prefixes is not None and not chosen:
        problems.append(Problem(f"{base}.advertisePrefixes", "must not be empty (null announces every on-prem CIDR)"))
    for index, prefix in enumerate(chosen):
        net = ipaddress.IPv4Network(prefix)
        if not any(net.subnet_of(a) for a in allowed):
            problems.append(
                Problem(
                    f"{base}.advertisePrefixes[{index}]",
                    f"{net} is not in the address plan's on-prem CIDRs; allowed: prefixes inside "
                    f"{', '.join(plan.onprem.cidrs)} ({PROJECT}:addressPlan.onprem.cidrs)",
                )
            )
    if len(set(chosen)) != len(chosen):
        problems.append(Problem(f"{base}.advertisePrefixes", f"duplicate entries in {chosen}"))
    return problems
