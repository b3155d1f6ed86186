"""The on-prem stack's VPN gateway, from the validated config and the AWS stacks' exports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components.onprem_vpn_gateway import NodeTaint, OnPremVpnGateway, OnPremVpnGatewayArgs, VpnPeerArgs
from components.vpn.gateway import GatewayBgp
from stackconfig import OnPremStackConfig
from stackconfig.errors import ConfigError, Problem
from stackconfig.types import PROJECT
from stackconfig.vpn import advertised_prefixes


def build_onprem_vpn(
    config: OnPremStackConfig,
    peers: Mapping[str, pulumi.StackReference],
    labels: Mapping[str, str],
    namespaces: Mapping[str, pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> dict[str, Any]:
    """Build the gateway for every peer stack's VPN and return the stack exports."""
    if not peers:
        return {}
    gateway_config = config.vpn_gateway
    plan = config.address_plan
    unknown = [stack for stack in peers if stack not in plan.aws_sites]
    if unknown:
        # BGP accepts from a peer exactly its site's VPC CIDR, so every peer stack must be a site of the plan.
        raise ConfigError(
            [Problem(f"{PROJECT}:peerStacks", f"{unknown} are not sites of {PROJECT}:addressPlan.awsSites")]
        )
    bgp = gateway_config.bgp
    namespace = config.kubernetes.vpn_gateway_namespace if gateway_config.deploy else None
    gateway = OnPremVpnGateway(
        "onprem-vpn",
        OnPremVpnGatewayArgs(
            local_public_ip=config.address_plan.onprem.vpn_gateway_public_ip,
            peers=[
                VpnPeerArgs(
                    site=stack,
                    vpn=ref.get_output("vpn"),
                    preshared_keys=ref.get_output("vpnPresharedKeys"),
                    accept=[plan.aws_sites[stack].vpc_cidr],
                )
                for stack, ref in peers.items()
            ],
            namespace=namespace,
            image=gateway_config.image,
            frr_image=gateway_config.frr_image,
            bgp=GatewayBgp(
                local_asn=plan.onprem.bgp_asn,
                advertise=advertised_prefixes(gateway_config, plan),
                keepalive_seconds=bgp.keepalive_seconds,
                hold_time_seconds=bgp.hold_time_seconds,
                maximum_prefix=bgp.maximum_prefix,
                maximum_prefix_restart_minutes=bgp.maximum_prefix_restart_minutes,
            ),
            node_selector_label=gateway_config.node_selector_label,
            node_taint=NodeTaint(
                key=gateway_config.node_taint.key,
                value=gateway_config.node_taint.value,
                effect=gateway_config.node_taint.effect,
            ),
            labels=labels,
            depends_on=[namespaces[namespace]] if namespace and namespace in namespaces else [],
        ),
        opts=opts,
    )
    return {
        "vpnTunnels": gateway.tunnels,
        "vpnSwanctlConf": gateway.swanctl_conf,
        "vpnStrongswanConf": gateway.strongswan_conf,
        "vpnFrrConf": gateway.frr_conf,
        "vpnXfrmInterfacesScript": gateway.interfaces_script,
    }
