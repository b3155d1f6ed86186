"""The AWS side of the site-to-site VPN to the on-prem gateway.

A customer gateway for the on-prem site (public IP and BGP ASN from the address plan), a virtual
private gateway attached to the VPC, and one VPN connection with BGP whose two tunnels are both
configured explicitly: IKEv2 only, the project's proposals, lifetimes inside AWS's limits with
phase 2 shorter than phase 1, DPD >= 30 s with restart, the planned inside /30s, generated
pre-shared keys, and tunnel logs in KMS-encrypted log groups under ``/aws/vendedlogs/``. Routes learnt
over BGP propagate into the private route tables.

No security group here: a group that nothing uses filters nothing. What on-prem may reach in the VPC is
decided where traffic lands, by the internal load balancer in front of the models (a later change), and
its group must be created with it: a Network Load Balancer created without security groups can never be
given one ("You can't perform this operation on a Network Load Balancer unless you specified a security
group for the load balancer when you created it", ELBv2 API reference, SetSecurityGroups).

Why a virtual private gateway and not a transit gateway: each region has exactly one VPC and one
VPN (to on-prem), and the regions must not route to each other (EU and UAE data stay apart), so
the hub a transit gateway provides is not wanted; a VGW has no attachment-hour or per-GB
processing charge. A TGW becomes the right choice with several VPCs per region or when ECMP over
more tunnels is needed for bandwidth.

The tunnel options are checked against the same crypto policy the on-prem renderer enforces
(``components.vpn.swanctl.TunnelSpec``), so the AWS side can never be configured with anything
the gateway would refuse to render.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.vpn.swanctl import TunnelSpec

PSK_PREFIX = "k"
"""Fixed first character of generated PSKs: AWS refuses keys that start with '0'."""
PSK_RANDOM_LENGTH = 40
"""Random letters and digits after the prefix (41 characters in all; AWS allows 8-64)."""

VENDED_LOGS_PREFIX = "/aws/vendedlogs/"
"""Where tunnel log groups go. AWS Site-to-Site VPN User Guide, "Site-to-Site VPN logs", section "Amazon
CloudWatch Logs resource policy size restrictions"; the Step Functions guide (bp-cwl) has the same text:
"CloudWatch Logs resource policies are limited to 5120 characters. When CloudWatch Logs detects that a policy
approaches this size limit, it automatically enables log groups that start with /aws/vendedlogs/." Enabling
tunnel logging adds the group to that policy, so outside the prefix enough groups make enabling it fail."""


def tunnel_log_group_name(name: str, tunnel: int) -> str:
    """The explicit CloudWatch log group name of one tunnel of the VPN component ``name``."""
    return f"{VENDED_LOGS_PREFIX}hybrid-llm-infra/{name}/vpn-tunnel{tunnel}"


@dataclass(frozen=True)
class VpnTunnelOptions:
    """Options both tunnels get, in AWS's vocabulary (``Phase1EncryptionAlgorithms`` values...).

    The algorithm and DH-group lists are sets on AWS's side (it returns them in an order of its own),
    so their order here is not a preference; the on-prem gateway offers them strongest first.
    """

    phase1_encryption_algorithms: Sequence[str] = ("AES256-GCM-16",)
    phase1_integrity_algorithms: Sequence[str] = ("SHA2-384", "SHA2-256")
    phase1_dh_group_numbers: Sequence[int] = (20, 19, 21)
    phase2_encryption_algorithms: Sequence[str] = ("AES256-GCM-16",)
    phase2_integrity_algorithms: Sequence[str] = ("SHA2-384", "SHA2-256")
    phase2_dh_group_numbers: Sequence[int] = (20, 19, 21)
    phase1_lifetime_seconds: int = 28800
    phase2_lifetime_seconds: int = 3600
    rekey_margin_time_seconds: int = 540
    rekey_fuzz_percentage: int = 100
    dpd_timeout_seconds: int = 30
    dpd_timeout_action: str = "restart"
    startup_action: str = "add"
    ike_versions: Sequence[str] = ("ikev2",)

    def check(self) -> None:
        """Raise ValueError unless the options satisfy the project's crypto policy and AWS's limits."""
        TunnelSpec(
            name="check",
            local_outside_ip="192.0.2.1",
            remote_outside_ip="192.0.2.2",
            local_inside_ip="169.254.100.2/30",
            remote_inside_ip="169.254.100.1/30",
            psk="Check.only_1",
            local_traffic_selectors=["10.0.0.0/8"],
            remote_traffic_selectors=["172.16.0.0/12"],
            ike_encryption=self.phase1_encryption_algorithms,
            ike_integrity=self.phase1_integrity_algorithms,
            ike_dh_groups=self.phase1_dh_group_numbers,
            esp_encryption=self.phase2_encryption_algorithms,
            esp_integrity=self.phase2_integrity_algorithms,
            esp_dh_groups=self.phase2_dh_group_numbers,
            ike_lifetime_seconds=self.phase1_lifetime_seconds,
            esp_lifetime_seconds=self.phase2_lifetime_seconds,
            rekey_margin_seconds=self.rekey_margin_time_seconds,
            rekey_fuzz_percentage=self.rekey_fuzz_percentage,
            dpd_timeout_seconds=self.dpd_timeout_seconds,
            dpd_action=self.dpd_timeout_action,
            startup_action=self.startup_action,
            ike_versions=self.ike_versions,
        )


@dataclass(frozen=True)
class AwsSiteToSiteVpnArgs:
    """Inputs of AwsSiteToSiteVpn."""

    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    private_route_table_ids: Sequence[pulumi.Input[str]]
    """Route tables that learn the on-prem routes (BGP) from the virtual private gateway."""
    onprem_public_ip: str
    """The on-prem VPN gateway's public address (the customer gateway)."""
    onprem_bgp_asn: int
    onprem_cidrs: Sequence[str]
    """On-prem ranges (announced by the gateway over BGP; the tunnels' selectors are 0.0.0.0/0)."""
    amazon_side_asn: int
    tunnel_inside_cidrs: Sequence[str]
    """Exactly two /30s from 169.254.0.0/16 (tunnel 1, tunnel 2)."""
    log_kms_key_arn: pulumi.Input[str]
    log_retention_days: int = 365
    options: VpnTunnelOptions = field(default_factory=VpnTunnelOptions)
    preshared_keys: Sequence[pulumi.Input[str]] | None = None
    """Override the generated keys (one per tunnel); always handled as secrets."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.tunnel_inside_cidrs) != 2:
            raise ValueError(f"tunnel_inside_cidrs: need exactly 2 /30s, got {list(self.tunnel_inside_cidrs)}")
        for cidr in self.tunnel_inside_cidrs:
            net = ipaddress.IPv4Network(cidr)
            if net.prefixlen != 30 or not net.subnet_of(ipaddress.IPv4Network("169.254.0.0/16")):
                raise ValueError(f"tunnel_inside_cidrs: {cidr} must be a /30 inside 169.254.0.0/16")
        if not self.onprem_cidrs:
            raise ValueError("onprem_cidrs: at least one on-prem CIDR is needed")
        if self.preshared_keys is not None and len(self.preshared_keys) != 2:
            raise ValueError("preshared_keys: need exactly one key per tunnel (2)")
        self.options.check()


@dataclass(frozen=True)
class VpnTunnelOutputs:
    """One tunnel as the on-prem side needs it."""

    outside_address: pulumi.Output[str]
    """AWS's public endpoint of the tunnel."""
    customer_inside_address: pulumi.Output[str]
    """The on-prem side's inside address with prefix, e.g. ``169.254.10.2/30``."""
    aws_inside_address: pulumi.Output[str]
    customer_bgp_asn: int
    aws_bgp_asn: pulumi.Output[str]
    preshared_key: pulumi.Output[str]
    """Secret."""
    options: Mapping[str, pulumi.Output[Any]]
    """The tunnel's options as the VPN connection reports them (camelCase AWS names)."""

    def public(self) -> dict[str, Any]:
        """Everything but the key (for a plain stack output)."""
        return {
            "outsideAddress": self.outside_address,
            "customerInsideAddress": self.customer_inside_address,
            "awsInsideAddress": self.aws_inside_address,
            "customerBgpAsn": self.customer_bgp_asn,
            "awsBgpAsn": self.aws_bgp_asn,
            **self.options,
        }


class AwsSiteToSiteVpn(pulumi.ComponentResource):
    """Customer gateway, VGW on the VPC, a two-tunnel BGP VPN connection, route propagation, tunnel logs."""

    customer_gateway: aws.ec2.CustomerGateway
    vpn_gateway: aws.ec2.VpnGateway
    connection: aws.ec2.VpnConnection
    log_groups: list[aws.cloudwatch.LogGroup]
    tunnels: list[VpnTunnelOutputs]
    preshared_keys: pulumi.Output[list[str]]

    def __init__(self, name: str, args: AwsSiteToSiteVpnArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:network:AwsSiteToSiteVpn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def tags(suffix: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{suffix}"}

        self.customer_gateway = aws.ec2.CustomerGateway(
            f"{name}-cgw",
            type="ipsec.1",
            ip_address=args.onprem_public_ip,
            bgp_asn=str(args.onprem_bgp_asn),
            tags=tags("cgw"),
            opts=child,
        )
        self.vpn_gateway = aws.ec2.VpnGateway(
            f"{name}-vgw",
            vpc_id=args.vpc_id,
            amazon_side_asn=str(args.amazon_side_asn),
            tags=tags("vgw"),
            opts=child,
        )
        self.log_groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-tunnel{n}-logs",
                name=tunnel_log_group_name(name, n),
                kms_key_id=args.log_kms_key_arn,
                retention_in_days=args.log_retention_days,
                tags=tags(f"tunnel{n}-logs"),
                opts=child,
            )
            for n in (1, 2)
        ]
        keys = self._preshared_keys(name, args)
        o = args.options
        tunnel_args: dict[str, Any] = {}
        for n, inside, key in zip((1, 2), args.tunnel_inside_cidrs, keys, strict=True):
            prefix = f"tunnel{n}_"
            tunnel_args.update(
                {
                    f"{prefix}ike_versions": list(o.ike_versions),
                    f"{prefix}phase1_encryption_algorithms": list(o.phase1_encryption_algorithms),
                    f"{prefix}phase1_integrity_algorithms": list(o.phase1_integrity_algorithms),
                    f"{prefix}phase1_dh_group_numbers": list(o.phase1_dh_group_numbers),
                    f"{prefix}phase1_lifetime_seconds": o.phase1_lifetime_seconds,
                    f"{prefix}phase2_encryption_algorithms": list(o.phase2_encryption_algorithms),
                    f"{prefix}phase2_integrity_algorithms": list(o.phase2_integrity_algorithms),
                    f"{prefix}phase2_dh_group_numbers": list(o.phase2_dh_group_numbers),
                    f"{prefix}phase2_lifetime_seconds": o.phase2_lifetime_seconds,
                    f"{prefix}rekey_margin_time_seconds": o.rekey_margin_time_seconds,
                    f"{prefix}rekey_fuzz_percentage": o.rekey_fuzz_percentage,
                    f"{prefix}dpd_timeout_seconds": o.dpd_timeout_seconds,
                    f"{prefix}dpd_timeout_action": o.dpd_timeout_action,
                    f"{prefix}startup_action": o.startup_action,
                    f"{prefix}inside_cidr": inside,
                    f"{prefix}preshared_key": key,
                }
            )
        self.connection = aws.ec2.VpnConnection(
            f"{name}-connection",
            type="ipsec.1",
            customer_gateway_id=self.customer_gateway.id,
            vpn_gateway_id=self.vpn_gateway.id,
            static_routes_only=False,
            # Route-based: a BGP connection's tunnels negotiate 0.0.0.0/0 both ways (AWS's default for
            # LocalIpv4NetworkCidr/RemoteIpv4NetworkCidr); BGP-learned routes decide what crosses. Set
            # explicitly so an older narrow value on a deployed connection is replaced, not kept.
            local_ipv4_network_cidr="0.0.0.0/0",
            remote_ipv4_network_cidr="0.0.0.0/0",
            tunnel1_log_options=aws.ec2.VpnConnectionTunnel1LogOptionsArgs(
                cloudwatch_log_options=aws.ec2.VpnConnectionTunnel1LogOptionsCloudwatchLogOptionsArgs(
                    log_enabled=True, log_group_arn=self.log_groups[0].arn, log_output_format="json"
                )
            ),
            tunnel2_log_options=aws.ec2.VpnConnectionTunnel2LogOptionsArgs(
                cloudwatch_log_options=aws.ec2.VpnConnectionTunnel2LogOptionsCloudwatchLogOptionsArgs(
                    log_enabled=True, log_group_arn=self.log_groups[1].arn, log_output_format="json"
                )
            ),
            tags=tags("connection"),
            opts=child,
            **tunnel_args,
        )
        for index, route_table_id in enumerate(args.private_route_table_ids):
            aws.ec2.VpnGatewayRoutePropagation(
                f"{name}-propagation-{index}",
                route_table_id=route_table_id,
                vpn_gateway_id=self.vpn_gateway.id,
                opts=child,
            )

        conn = self.connection
        self.tunnels = [
            VpnTunnelOutputs(
                outside_address=getattr(conn, f"tunnel{n}_address"),
                customer_inside_address=pulumi.Output.concat(getattr(conn, f"tunnel{n}_cgw_inside_address"), "/30"),
                aws_inside_address=pulumi.Output.concat(getattr(conn, f"tunnel{n}_vgw_inside_address"), "/30"),
                customer_bgp_asn=args.onprem_bgp_asn,
                aws_bgp_asn=getattr(conn, f"tunnel{n}_bgp_asn"),
                preshared_key=pulumi.Output.secret(keys[n - 1]),
                options={
                    "ikeVersions": getattr(conn, f"tunnel{n}_ike_versions"),
                    "phase1EncryptionAlgorithms": getattr(conn, f"tunnel{n}_phase1_encryption_algorithms"),
                    "phase1IntegrityAlgorithms": getattr(conn, f"tunnel{n}_phase1_integrity_algorithms"),
                    "phase1DhGroupNumbers": getattr(conn, f"tunnel{n}_phase1_dh_group_numbers"),
                    "phase1LifetimeSeconds": getattr(conn, f"tunnel{n}_phase1_lifetime_seconds"),
                    "phase2EncryptionAlgorithms": getattr(conn, f"tunnel{n}_phase2_encryption_algorithms"),
                    "phase2IntegrityAlgorithms": getattr(conn, f"tunnel{n}_phase2_integrity_algorithms"),
                    "phase2DhGroupNumbers": getattr(conn, f"tunnel{n}_phase2_dh_group_numbers"),
                    "phase2LifetimeSeconds": getattr(conn, f"tunnel{n}_phase2_lifetime_seconds"),
                    "rekeyMarginTimeSeconds": getattr(conn, f"tunnel{n}_rekey_margin_time_seconds"),
                    "rekeyFuzzPercentage": getattr(conn, f"tunnel{n}_rekey_fuzz_percentage"),
                    "dpdTimeoutSeconds": getattr(conn, f"tunnel{n}_dpd_timeout_seconds"),
                    "dpdTimeoutAction": getattr(conn, f"tunnel{n}_dpd_timeout_action"),
                    "startupAction": getattr(conn, f"tunnel{n}_startup_action"),
                    # AWS's BGP hold time for the tunnel; the gateway never uses a longer one.
                    "bgpHoldtime": getattr(conn, f"tunnel{n}_bgp_holdtime"),
                },
            )
            for n in (1, 2)
        ]
        self.preshared_keys = pulumi.Output.secret(pulumi.Output.all(*keys))
        self.register_outputs(
            {
                "connectionId": conn.id,
                "customerGatewayId": self.customer_gateway.id,
                "vpnGatewayId": self.vpn_gateway.id,
                "tunnels": [t.public() for t in self.tunnels],
                "presharedKeys": self.preshared_keys,
            }
        )

    def _preshared_keys(self, name: str, args: AwsSiteToSiteVpnArgs) -> list[pulumi.Output[str]]:
        if args.preshared_keys is not None:
            return [pulumi.Output.secret(key) for key in args.preshared_keys]
        keys = []
        for n in (1, 2):
            password = random.RandomPassword(
                f"{name}-tunnel{n}-psk",
                length=PSK_RANDOM_LENGTH,
                special=False,
                upper=True,
                lower=True,
                numeric=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            # Letters and digits after a fixed letter: always within AWS's rules.
            keys.append(pulumi.Output.secret(pulumi.Output.concat(PSK_PREFIX, password.result)))
        return keys

    def stack_outputs(self) -> dict[str, Any]:
        """``vpn`` (plain: addresses, ASNs, options) and ``vpnPresharedKeys`` (secret) for the stack's exports."""
        return {
            "vpn": {
                "connectionId": self.connection.id,
                "customerGatewayId": self.customer_gateway.id,
                "vpnGatewayId": self.vpn_gateway.id,
                "localNetworkCidr": self.connection.local_ipv4_network_cidr,
                "remoteNetworkCidr": self.connection.remote_ipv4_network_cidr,
                "tunnels": [t.public() for t in self.tunnels],
            },
            "vpnPresharedKeys": self.preshared_keys,
        }
