"""The AWS stack's site-to-site VPN, from the validated config."""

from __future__ import annotations

from typing import Any

import pulumi

from components.aws_vpn import AwsSiteToSiteVpn, AwsSiteToSiteVpnArgs, VpnTunnelOptions
from components.network import RegionalNetwork
from components.vpn_alarms import VpnTunnelAlarms, VpnTunnelAlarmsArgs
from stackconfig import AwsStackConfig


def build_aws_vpn(
    config: AwsStackConfig, network: RegionalNetwork, kms_key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> dict[str, Any]:
    """Build the VPN (when enabled) and return its stack exports (``vpn``, ``vpnPresharedKeys``)."""
    vpn = config.vpn
    if not vpn.enabled:
        return {}
    plan = config.address_plan
    site = config.deployment.site
    component = AwsSiteToSiteVpn(
        f"{site}-vpn",
        AwsSiteToSiteVpnArgs(
            vpc_id=network.vpc_id,
            vpc_cidr=config.site_plan.vpc_cidr,
            private_route_table_ids=network.private_route_table_ids,
            onprem_public_ip=plan.onprem.vpn_gateway_public_ip,
            onprem_bgp_asn=plan.onprem.bgp_asn,
            onprem_cidrs=plan.onprem.cidrs,
            amazon_side_asn=config.site_plan.amazon_side_asn,
            tunnel_inside_cidrs=config.site_plan.tunnel_inside_cidrs,
            log_kms_key_arn=kms_key_arn,
            log_retention_days=vpn.log_retention_days,
            options=VpnTunnelOptions(
                phase1_encryption_algorithms=vpn.phase1_encryption_algorithms,
                phase1_integrity_algorithms=vpn.phase1_integrity_algorithms,
                phase1_dh_group_numbers=vpn.phase1_dh_group_numbers,
                phase2_encryption_algorithms=vpn.phase2_encryption_algorithms,
                phase2_integrity_algorithms=vpn.phase2_integrity_algorithms,
                phase2_dh_group_numbers=vpn.phase2_dh_group_numbers,
                phase1_lifetime_seconds=vpn.phase1_lifetime_seconds,
                phase2_lifetime_seconds=vpn.phase2_lifetime_seconds,
                rekey_margin_time_seconds=vpn.rekey_margin_time_seconds,
                rekey_fuzz_percentage=vpn.rekey_fuzz_percentage,
                dpd_timeout_seconds=vpn.dpd_timeout_seconds,
                dpd_timeout_action=vpn.dpd_timeout_action,
                startup_action=vpn.startup_action,
            ),
            preshared_keys=[k.get_secret_value() for k in vpn.preshared_keys] if vpn.preshared_keys else None,
        ),
        opts=opts,
    )
    VpnTunnelAlarms(
        f"{site}-vpn-alarms",
        VpnTunnelAlarmsArgs(
            vpn_connection_id=component.connection.id,
            tunnel_addresses=[tunnel.outside_address for tunnel in component.tunnels],
            site=site,
        ),
        opts=opts,
    )
    return component.stack_outputs()
