"""AWS's per-region facts as moto records them: availability zones and instance-type offerings.

moto ships these as data (a table of zones in its EC2 model, gzip JSON offerings per region).
Importing moto's whole EC2 backend costs seconds, so only its zone module is loaded and the
offerings are read straight from moto's resource files: the data is moto's, unchanged.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path


class UnknownRegionError(LookupError):
    pass


@dataclass(frozen=True)
class Zone:
    name: str
    zone_id: str
    region: str


def _moto_dir() -> Path:
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("moto is not installed; it carries the recorded AWS data")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _zone_table() -> dict[str, tuple[Zone, ...]]:
    cache_file = _cache_dir() / f"moto-{importlib.metadata.version('moto')}-zones.json"
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        return {region: tuple(Zone(**z) for z in zones) for region, zones in cached.items()}
    except (OSError, ValueError, TypeError):
        pass
    table = _zone_table_from_moto()
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(
            json.dumps({r: [z.__dict__ for z in zones] for r, zones in table.items()}), encoding="utf-8"
        )
    except OSError:
        pass  # a read-only home only costs the next run the same half second
    return table


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hybrid-llm-infra"


def _zone_table_from_moto() -> dict[str, tuple[Zone, ...]]:
    # Load only moto's zone module, not the moto.ec2 package (whose import takes seconds); it still
    # imports boto3 (half a second), so its result is cached per moto version.
    path = _moto_dir() / "ec2" / "models" / "availability_zones_and_regions.py"
    spec = importlib.util.spec_from_file_location("_moto_availability_zones", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load moto's zone table from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table: dict[str, tuple[Zone, ...]] = {}
    for region, zones in module.RegionsAndZonesBackend.zones.items():
        table[region] = tuple(
            sorted(
                (
                    Zone(name=z.name, zone_id=z.zone_id, region=z.region_name)
                    for z in zones
                    if z.zone_type == "availability-zone"
                ),
                key=lambda z: z.name,
            )
        )
    return table


def availability_zones(region: str) -> tuple[Zone, ...]:
    zones = _zone_table().get(region)
    if not zones:
        raise UnknownRegionError(f"moto has no recorded availability zones for {region!r}")
    return zones


@cache
def instance_type_offerings(region: str, location_type: str = "availability-zone") -> tuple[tuple[str, str], ...]:
    """(instance type, location) pairs AWS offers in the region, per moto's recorded data."""
    if location_type not in ("region", "availability-zone", "availability-zone-id"):
        raise ValueError(f"unknown location type {location_type!r}")
    path = _moto_dir() / "ec2" / "resources" / "instance_type_offerings" / location_type / f"{region}.json.gz"
    if not path.is_file():
        raise UnknownRegionError(f"moto has no recorded instance-type offerings for {region!r}")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = json.load(handle)
    return tuple(sorted((r["InstanceType"], r["Location"]) for r in records))
