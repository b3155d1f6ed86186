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
    return overlap_problems(plan_ranges(plan)) + tunnel_inside_problems(plan)
