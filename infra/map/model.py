"""What the data-flow map shows: sites inside jurisdictions, what runs and is stored there, and what moves.

Plain data, built from an inventory (``infra.map.build``) and read by every renderer; the JSON output is this
model as it is. Ids are stable strings so a test can count every model, store and tunnel exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# inside: both ends in one jurisdiction; crosses: two different jurisdictions (red, exit 1);
# link: a tunnel between jurisdictions that no registered data flow rides (amber: routing only, not a transfer);
# unplaced: one end could not be placed from the inventory (amber: look at it, not proof of a transfer).
Boundary = Literal["inside", "crosses", "link", "unplaced"]


@dataclass(frozen=True)
class Site:
    id: str  # the stack name
    label: str
    kind: Literal["aws", "onprem"]
    jurisdiction: str  # residency JURISDICTIONS key
    region: str | None


@dataclass(frozen=True)
class Cluster:
    id: str
    site: str
    label: str
    detail: str


@dataclass(frozen=True)
class Capacity:
    id: str
    site: str
    label: str
    detail: str  # instance types, GPU limit, node counts


@dataclass(frozen=True)
class Model:
    id: str
    site: str
    name: str
    served_model_name: str
    classification: str
    gpus: str


@dataclass(frozen=True)
class Store:
    id: str
    site: str
    kind: str  # s3-bucket, log-group, metrics-volume, pvc, object-store
    name: str
    data_category: str
    classification: str
    encryption: str
    retention: str
    readers: tuple[str, ...]
    controls: tuple[str, ...]  # ids in residency/controls.py


@dataclass(frozen=True)
class Flow:
    id: str
    kind: (
        str  # vpn-tunnel, lb-endpoint, dns-forward, dns-record, log-delivery, s3-replication, remote-write, model-load
    )
    source: str  # site id, or "external:<text>" when the inventory does not place it
    target: str
    source_node: str  # model/store/site id the arrow starts at (a site id when nothing finer)
    target_node: str
    label: str  # what crosses it
    protection: str  # crypto of the tunnel, TLS, ...
    classification: str
    boundary: Boundary
    source_jurisdiction: str | None
    target_jurisdiction: str | None
    controls: tuple[str, ...]
    via: tuple[str, ...] = ()  # tunnel ids a flow rides


@dataclass(frozen=True)
class ComponentGroup:
    """One ComponentResource of a stack's detail view: its children counted by type, not listed."""

    urn: str
    type: str
    name: str
    parent: str | None
    children: tuple[tuple[str, int], ...]


@dataclass
class DataFlowMap:
    sites: list[Site] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    capacity: list[Capacity] = field(default_factory=list)
    models: list[Model] = field(default_factory=list)
    stores: list[Store] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    components: dict[str, list[ComponentGroup]] = field(default_factory=dict)

    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.id == site_id), None)

    @property
    def crossing(self) -> list[Flow]:
        return [f for f in self.flows if f.boundary == "crosses"]
