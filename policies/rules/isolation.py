"""Restricted models are unreachable from AWS; a region routes only to on-prem (control restricted-model-isolated).

What reaches an on-prem pod from AWS comes over the VPN with its VPC address (the tunnels do not NAT), so the pod's
NetworkPolicy decides by source address. It can decide only if the address survives: a Service exposed beyond the
cluster must keep it (``externalTrafficPolicy: Local``; with ``Cluster`` kube-proxy SNATs it to a node's on-prem
address, which any on-prem ipBlock admits). The address plan's ranges come from the pack config (``infra check``
fills them; with the Pulumi CLI set them in ``--policy-pack-config``); without ``onpremCidrs`` no ipBlock of a
restricted model can be shown safe, so every one is reported. A site's public front-door entry (labelled
``PUBLIC_ENTRY_LABEL``, in ``PUBLIC_ENTRY_NAMESPACE`` only, where no model may live) exists to take connections from the internet; of it the control asks only that no AWS site's
range is among its sources (the gateway behind it routes to restricted models).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from policies.rules.base import Config, View, as_list, as_mapping, stack_policy
from residency import ONPREM_ONLY_CLASSIFICATIONS
from residency.front_door import PUBLIC_ENTRY_LABEL, PUBLIC_ENTRY_NAMESPACE, PUBLIC_ENTRY_VALUE

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_NETWORK_POLICY = ":NetworkPolicy"
_SERVICE = "kubernetes:core/v1:Service"
_ROUTE = "aws:ec2/route:Route"
_ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
_VPN_ROUTE = "aws:ec2/vpnConnectionRoute:VpnConnectionRoute"
_VPC = "aws:ec2/vpc:Vpc"


def _networks(values: Any) -> list[Network]:
    out = []
    for value in as_list(values):
        try:
            out.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            continue
    return out


def _network(value: Any) -> Network | None:
    found = _networks([value])
    return found[0] if found else None


def _source_problems(
    cidr: Any, excepted: Any, onprem: Sequence[Network], aws: Sequence[Network], public: bool = False
) -> list[str]:
    """Why a source range of a restricted model is not confined to on-prem (``public``: a front-door entry, whose
    sources are the internet: only the AWS ranges must be left out)."""
    network = _network(cidr)
    if network is None:
        return [f"source {cidr!r} is not a CIDR"]
    holes = _networks(excepted)
    reaching = [
        str(a)
        for a in aws
        if a.version == network.version
        and network.overlaps(a)  # type: ignore[arg-type]
        and not any(a.version == h.version and a.subnet_of(h) for h in holes)  # type: ignore[arg-type]
    ]
    if reaching:
        return [f"source {network} admits AWS ranges {', '.join(reaching)}"]
    if public:
        return []
    if not any(network.version == o.version and network.subnet_of(o) for o in onprem):  # type: ignore[arg-type]
        known = ", ".join(map(str, onprem)) or "none configured (onpremCidrs)"
        return [f"source {network} is not inside the on-prem networks ({known})"]
    return []


def _peer(peer: Mapping[str, Any], onprem: Sequence[Network], aws: Sequence[Network], public: bool) -> list[str]:
    block = as_mapping(peer.get("ipBlock"))
    if not block:
        return []  # namespace/pod selectors: pods of this (on-prem) cluster
    return _source_problems(block.get("cidr"), block.get("except") or block.get("except_"), onprem, aws, public)


def network_policy_problems(
    spec: Mapping[str, Any], onprem: Sequence[Network], aws: Sequence[Network], public: bool = False
) -> list[str]:
    problems = []
    for index, rule in enumerate(as_list(spec.get("ingress"))):
        peers = as_list(as_mapping(rule).get("from") or as_mapping(rule).get("from_"))
        if not peers:
            problems.append(f"ingress[{index}] admits every source (no 'from')")
        for peer in peers:
            problems += [f"ingress[{index}]: {p}" for p in _peer(as_mapping(peer), onprem, aws, public)]
    return problems


def service_problems(
    spec: Mapping[str, Any], onprem: Sequence[Network], aws: Sequence[Network], public: bool = False
) -> list[str]:
    kind = spec.get("type") or "ClusterIP"
    if kind not in ("LoadBalancer", "NodePort") and not as_list(spec.get("externalIPs")):
        return []
    problems = []
    if spec.get("externalTrafficPolicy") != "Local":
        problems.append(
            f"type {kind} without externalTrafficPolicy Local: callers reach the pods with a node's address, so the "
            "NetworkPolicy cannot keep AWS out"
        )
    if kind == "LoadBalancer":
        ranges = as_list(spec.get("loadBalancerSourceRanges"))
        if not ranges:
            problems.append("LoadBalancer without loadBalancerSourceRanges admits every source it is routed from")
        for cidr in ranges:
            problems += [f"loadBalancerSourceRanges: {p}" for p in _source_problems(cidr, None, onprem, aws, public)]
    return problems


def _route_targets_elsewhere(props: Mapping[str, Any]) -> bool:
    """A route through a gateway that can carry traffic to another VPC (VGW, transit gateway, peering)."""
    gateway = props.get("gatewayId")
    return bool(
        props.get("transitGatewayId")
        or props.get("vpcPeeringConnectionId")
        or (isinstance(gateway, str) and gateway.startswith("vgw-"))
    )


def route_problems(views: list[View], aws: Sequence[Network]) -> list[tuple[View | None, str]]:
    own = [n for v in views if v.type == _VPC for n in _networks([v.props.get("cidrBlock")])]
    others = [a for a in aws if not a.is_link_local and not any(a.overlaps(o) for o in own)]  # type: ignore[arg-type]
    out: list[tuple[View | None, str]] = []
    for view in views:
        routes: list[Mapping[str, Any]] = []
        if view.type in (_ROUTE, _VPN_ROUTE):
            routes = [view.props]
        elif view.type == _ROUTE_TABLE:
            routes = [as_mapping(r) for r in as_list(view.props.get("routes"))]
        for route in routes:
            destination = _network(route.get("destinationCidrBlock") or route.get("cidrBlock"))
            if destination is None:
                continue
            hits = [str(o) for o in others if destination.overlaps(o)]  # type: ignore[arg-type]
            # A default route to the NAT or internet gateway cannot reach another VPC's private addresses.
            specific = destination.prefixlen > 0 or view.type == _VPN_ROUTE or _route_targets_elsewhere(route)
            if hits and specific:
                out.append(
                    (view, f"{view.name}: route to {destination} reaches another AWS site's VPC ({', '.join(hits)})")
                )
    return out


@stack_policy("restricted-model-isolated")
def restricted_model_isolated(views: list[View], config: Config) -> list[tuple[View | None, str]]:
    onprem = _networks(config.get("onpremCidrs", []))
    aws = _networks(config.get("awsCidrs", []))
    out = route_problems(views, aws)
    for view in views:
        if not view.is_k8s or view.on_aws() or view.classification not in ONPREM_ONLY_CLASSIFICATIONS:
            continue
        spec = as_mapping(view.props.get("spec"))
        public = (
            view.labels().get(PUBLIC_ENTRY_LABEL) == PUBLIC_ENTRY_VALUE
            and view.metadata().get("namespace") == PUBLIC_ENTRY_NAMESPACE
        )
        if view.type.endswith(_NETWORK_POLICY) and view.type.startswith("kubernetes:networking.k8s.io/"):
            problems = network_policy_problems(spec, onprem, aws, public)
        elif view.type == _SERVICE:
            problems = service_problems(spec, onprem, aws, public)
        else:
            continue
        label = f"{view.name} ({view.classification})"
        out += [(view, f"{label}: {problem}") for problem in problems]
    return out
