"""Which availability zones each GPU node pool may use: those that really offer its instance types.

Decided at program time from AWS's own answer (``ec2.getInstanceTypeOfferings`` by availability zone),
before any resource of the stack is registered, so that a type the region cannot run stops the run
with a config error instead of a NodePool that never gets capacity.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import pulumi_aws as aws
from pulumi_aws import ec2

from stackconfig import PROJECT, AwsStackConfig, ConfigError, Problem

# Resolved at import, not at the first call (see components/aws_gpu_cluster.py).
_SDK = (aws.get_availability_zones, ec2.get_instance_type_offerings)


@dataclass(frozen=True)
class RegionZone:
    name: str
    zone_id: str


def region_zones(region: str) -> list[RegionZone]:
    """The region's available zones, sorted by name (the same zones the regional network uses)."""
    result = aws.get_availability_zones(state="available", region=region)
    return sorted((RegionZone(n, i) for n, i in zip(result.names, result.zone_ids, strict=True)), key=lambda z: z.name)


def offered_zones(region: str, instance_type: str) -> set[str]:
    """Names of the zones of ``region`` that offer ``instance_type``."""
    result = ec2.get_instance_type_offerings(
        location_type="availability-zone",
        filters=[ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=[instance_type])],
        region=region,
    )
    return {loc for loc, t in zip(result.locations, result.instance_types, strict=True) if t == instance_type}


def choose_zones(
    *,
    instance_type: str,
    region: str,
    network_zones: Sequence[RegionZone],
    offered: Collection[str],
    excluded_az_ids: Collection[str],
    min_azs: int,
    key_path: str,
) -> tuple[list[str], list[Problem]]:
    """Network zones that offer the type and are not excluded; a problem if fewer than ``min_azs`` remain."""
    offering = [z for z in network_zones if z.name in offered]
    chosen = [z.name for z in offering if z.zone_id not in excluded_az_ids]
    if len(chosen) >= min_azs:
        return chosen, []
    where = ", ".join(f"{z.name} ({z.zone_id})" for z in offering) or "none of the stack's zones"
    if len(offering) >= min_azs:
        path = f"{PROJECT}:gpuPlacement.excludedAzIds"
        detail = (
            f"excluding {', '.join(sorted(excluded_az_ids))} leaves {len(chosen)} zone(s) for {instance_type} "
            f"in {region}; gpuPlacement.minAzs is {min_azs}; zones that offer it: {where}"
        )
    else:
        path = key_path
        detail = (
            f"{instance_type} is offered in {region} only in {where}; gpuPlacement.minAzs is {min_azs} "
            f"(choose a type offered in more zones, or lower minAzs)"
        )
    return chosen, [Problem(path, detail)]


@dataclass(frozen=True)
class PoolPlacement:
    """Where a GPU node pool may launch: its zones, and its instance types offered in at least one of them."""

    zones: list[str]
    instance_types: list[str]


def place_gpu_node_pools(config: AwsStackConfig, network_zones: Sequence[RegionZone]) -> dict[str, PoolPlacement]:
    """Zones and instance types per GPU node pool name, or ConfigError naming every pool that cannot be placed.

    A pool's zones are the stack's zones that offer at least one of its types, minus the excluded AZ ids; its types
    are those offered in one of those zones (Karpenter picks type and zone together from what EC2 offers).
    """
    placement: dict[str, PoolPlacement] = {}
    problems: list[Problem] = []
    offered_by_type: dict[str, set[str]] = {}
    excluded = set(config.gpu_placement.excluded_az_ids)
    for index, pool in enumerate(config.gpu_node_pools):
        types = pool.resolved_instance_types
        for instance_type in types:
            if instance_type not in offered_by_type:
                offered_by_type[instance_type] = offered_zones(config.aws_region, instance_type)
        field = "instanceTypes" if pool.instance_types else "instanceFamilies"
        zones, found = choose_zones(
            instance_type=", ".join(types),
            region=config.aws_region,
            network_zones=network_zones,
            offered=set().union(*(offered_by_type[t] for t in types)),
            excluded_az_ids=excluded,
            min_azs=config.gpu_placement.min_azs,
            key_path=f"{PROJECT}:gpuNodePools[{index}].{field}",
        )
        placement[pool.name] = PoolPlacement(zones, [t for t in types if offered_by_type[t] & set(zones)])
        problems += found
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    return placement
