"""What the pictures draw, grouped so they stay legible as the stacks grow: per site one gateway, one compute box,
one box per model and one box per kind of store; the two tunnels of a VPN connection as one edge; intra-site log
deliveries as one edge per site. DOT and Mermaid both draw from this (same grouping, same colours)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from infra.map.model import DataFlowMap, Flow
from residency import JURISDICTIONS

CLASSIFICATION_COLOURS = {
    "public": "#d9f2d9",
    "internal": "#cfe2ff",
    "confidential": "#ffe3a3",
    "restricted": "#f6b8b8",
}
BOUNDARY_COLOURS = {"inside": "#2b6cb0", "crosses": "#d00000", "link": "#d98a00", "unplaced": "#d98a00"}
STORE_KIND_TITLES = {
    "s3-bucket": "S3 buckets",
    "log-group": "log groups",
    "metrics-volume": "metrics storage",
    "pvc": "volumes (PVC)",
    "object-store": "object stores",
}


@dataclass(frozen=True)
class Box:
    id: str
    title: str
    rows: tuple[str, ...]
    fill: str


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    boundary: str


def node_id(text: str) -> str:
    return "n_" + "".join(ch if ch.isalnum() else "_" for ch in text)


def jurisdiction_title(jurisdiction: str) -> str:
    known = JURISDICTIONS.get(jurisdiction)
    return (
        f"{jurisdiction}: {known.regulation.id} ({known.name})" if known else f"{jurisdiction} (unknown jurisdiction)"
    )


def site_boxes(flow_map: DataFlowMap, site_id: str) -> list[Box]:
    site = flow_map.site(site_id)
    boxes = [
        Box(
            node_id(f"gw:{site_id}"),
            "VPN gateway" if site and site.kind == "onprem" else "VPC + VPN gateway",
            (),
            "#eeeeee",
        )
    ]
    compute = [f"{c.label}: {c.detail}" for c in flow_map.clusters if c.site == site_id]
    compute += [f"{c.label}: {c.detail}" for c in flow_map.capacity if c.site == site_id]
    boxes.append(Box(node_id(f"compute:{site_id}"), "clusters and GPU capacity", tuple(compute), "#ffffff"))
    for model in (m for m in flow_map.models if m.site == site_id):
        boxes.append(
            Box(
                node_id(model.id),
                f"model {model.name}",
                (model.served_model_name, f"{model.classification}, {model.gpus} GPU"),
                CLASSIFICATION_COLOURS.get(model.classification, "#ffffff"),
            )
        )
    by_kind: dict[str, list[str]] = defaultdict(list)
    for store in (s for s in flow_map.stores if s.site == site_id):
        by_kind[store.kind].append(f"{_short(store.name)}: {store.encryption}; {store.retention}")
    for kind, rows in sorted(by_kind.items()):
        boxes.append(
            Box(node_id(f"stores:{site_id}:{kind}"), STORE_KIND_TITLES.get(kind, kind), tuple(rows), "#f7f7f7")
        )
    return boxes


def endpoint_node(flow_map: DataFlowMap, node: str, site: str) -> str:
    """The box a flow end is drawn at: a model, a store group, or the site's gateway."""
    if any(m.id == node for m in flow_map.models):
        return node_id(node)
    store = next((s for s in flow_map.stores if s.id == node), None)
    if store:
        return node_id(f"stores:{store.site}:{store.kind}")
    if flow_map.site(site):
        return node_id(f"gw:{site}")
    return node_id(site)


def edges(flow_map: DataFlowMap) -> list[Edge]:
    drawn: dict[tuple[str, str, str], list[Flow]] = defaultdict(list)
    for flow in flow_map.flows:
        source = endpoint_node(flow_map, flow.source_node, flow.source)
        target = endpoint_node(flow_map, flow.target_node, flow.target)
        if flow.kind == "log-delivery" and flow.boundary == "inside":
            source = node_id(f"compute:{flow.source}")
        group = flow.kind if flow.kind in ("vpn-tunnel", "log-delivery") else flow.id
        drawn[(source, target, group)].append(flow)
    found = []
    for (source, target, group), flows in drawn.items():
        worst = max(flows, key=lambda f: ("inside", "unplaced", "link", "crosses").index(f.boundary))
        found.append(Edge(source, target, _edge_label(group, flows), worst.boundary))
    return found


def _edge_label(group: str, flows: list[Flow]) -> str:
    first = flows[0]
    where = _where(first)
    if group == "vpn-tunnel":
        carries = first.label.split(": ", 1)[-1]
        return f"{len(flows)} IPsec tunnels ({first.protection})\\ncarries: {carries}\\n{where}"
    if group == "log-delivery":
        kinds = sorted({f.label.split(":", 1)[0] for f in flows})
        return f"log delivery: {', '.join(kinds)}\\n{where}"
    return f"{first.label}\\n{where}"


def _where(flow: Flow) -> str:
    if flow.boundary == "inside":
        return f"stays in {flow.source_jurisdiction}"
    if flow.boundary == "crosses":
        return f"CROSSES {flow.source_jurisdiction} -> {flow.target_jurisdiction}"
    if flow.boundary == "link":
        return f"link {flow.source_jurisdiction} <-> {flow.target_jurisdiction}, no data flow"
    return "end not placed by the inventory"


def externals(flow_map: DataFlowMap) -> dict[str, str]:
    """Flow ends outside every site of the map: their box id and label."""
    ends = {f.source for f in flow_map.flows} | {f.target for f in flow_map.flows}
    found = {}
    for end in sorted(e for e in ends if flow_map.site(e) is None):
        text = end.removeprefix("external:")
        found[node_id(end)] = (
            f"AWS {text.removeprefix('region:')} (outside the map)" if text.startswith("region:") else text
        )
    return found


def _short(name: str) -> str:
    return name if len(name) <= 48 else name[:22] + "…" + name[-22:]
