"""Checks on the hybrid address plan that a single field cannot express."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from itertools import combinations

from components.vpn.swanctl import AWS_RESERVED_INSIDE_CIDRS
from stackconfig.errors import Problem
from stackconfig.models import AddressPlan
from stackconfig.types import PROJECT

LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")

PRIVATE_ASN_RANGES: tuple[tuple[int, int], ...] = ((64512, 65534), (4200000000, 4294967294))
"""The private ASN ranges (RFC 6996) AWS accepts: a virtual private gateway's amazonSideAsn must be in one of
them (AWS VPN user guide, virtual private gateway; CreateVpnGateway AmazonSideAsn), and a customer gateway
without an ASN of its own uses one of them (AWS: "If you don't have an ASN already, you can use a private
ASN"). The on-prem site owns no public ASN, so a public one would be someone else's."""


def _private_asn(asn: int) -> bool:
    return any(low <= asn <= high for low, high in PRIVATE_ASN_RANGES)


def asn_problems(plan: AddressPlan) -> list[Problem]:
    """Every ASN private, and the on-prem ASN different from each Amazon-side ASN (eBGP needs two ASes: a
    route whose AS path holds the receiver's own ASN is dropped as a loop, RFC 4271 9.1.2)."""
    base = f"{PROJECT}:addressPlan"
    ranges = " or ".join(f"{low}-{high}" for low, high in PRIVATE_ASN_RANGES)
    problems = []
    onprem = plan.onprem.bgp_asn
    if not _private_asn(onprem):
        problems.append(Problem(f"{base}.onprem.bgpAsn", f"{onprem} is not a private ASN; allowed: {ranges}"))
    for site, site_plan in sorted(plan.aws_sites.items()):
        path = f"{base}.awsSites.{site}.amazonSideAsn"
        if not _private_asn(site_plan.amazon_side_asn):
            problems.append(Problem(path, f"{site_plan.amazon_side_asn} is not a private ASN; AWS allows: {ranges}"))
        if site_plan.amazon_side_asn == onprem:
            problems.append(
                Problem(
                    f"{base}.onprem.bgpAsn",
                    f"{onprem} equals {path}; the on-prem ASN must differ from every Amazon-side ASN",
                )
            )
    return problems


def plan_ranges(plan: AddressPlan) -> list[tuple[str, ipaddress.IPv4Network]]:
    """Every range of the plan with the config key path that declares it."""
    base = f"{PROJECT}:addressPlan"
    ranges: list[tuple[str, ipaddress.IPv4Network]] = []
    for i, cidr in enumerate(plan.onprem.cidrs):
        ranges.append((f"{base}.onprem.cidrs[{i}]", ipaddress.IPv4Network(cidr)))
    ranges.append((f"{base}.onprem.podCidr", ipaddress.IPv4Network(plan.onprem.pod_cidr)))
    ranges.append((f"{base}.onprem.serviceCidr", ipaddress.IPv4Network(plan.onprem.service_cidr)))
    for site, site_plan in sorted(plan.aws_sites.items()):
        ranges.append((f"{base}.awsSites.{site}.vpcCidr", ipaddress.IPv4Network(site_plan.vpc_cidr)))
        for i, cidr in enumerate(site_plan.tunnel_inside_cidrs):
            ranges.append((f"{base}.awsSites.{site}.tunnelInsideCidrs[{i}]", ipaddress.IPv4Network(cidr)))
    return ranges


def overlap_problems(ranges: Iterable[tuple[str, ipaddress.IPv4Network]]) -> list[Problem]:
    """One problem per overlapping pair, named by the later key."""
    problems = []
    for (path_a, net_a), (path_b, net_b) in combinations(list(ranges), 2):
        if net_a.overlaps(net_b):
            problems.append(
                Problem(path_b, f"{net_b} overlaps {path_a} ({net_a}); every range of the plan must be disjoint")
            )
    return problems


def tunnel_inside_problems(plan: AddressPlan) -> list[Problem]:
    """AWS's rules for tunnel inside CIDRs."""
    problems = []
    for site, site_plan in sorted(plan.aws_sites.items()):
        for i, cidr in enumerate(site_plan.tunnel_inside_cidrs):
            path = f"{PROJECT}:addressPlan.awsSites.{site}.tunnelInsideCidrs[{i}]"
            net = ipaddress.IPv4Network(cidr)
            if net.prefixlen != 30 or not net.subnet_of(LINK_LOCAL):
                problems.append(Problem(path, f"{net} must be a /30 inside 169.254.0.0/16"))
            elif net in AWS_RESERVED_INSIDE_CIDRS:
                reserved = ", ".join(str(r) for r in AWS_RESERVED_INSIDE_CIDRS)
                problems.append(Problem(path, f"{net} is reserved by AWS (reserved: {reserved})"))
    return problems


def check_address_plan(plan: AddressPlan) -> list[Problem]:
    return overlap_problems(plan_ranges(plan)) + tunnel_inside_problems(plan) + asn_problems(plan)


def aws_ranges(plan: AddressPlan) -> list[str]:
    """Every range an AWS site reaches on-prem from (its VPC and its tunnels' inside ranges), by site name; the
    policy pack's ``awsCidrs`` (infra/policy_check.py, read from the raw config) are the same ranges."""
    return [
        cidr
        for _, site_plan in sorted(plan.aws_sites.items())
        for cidr in (site_plan.vpc_cidr, *site_plan.tunnel_inside_cidrs)
    ]
