"""Mermaid (text for GitHub comments and job summaries): the same boxes and edges as the DOT picture."""

from __future__ import annotations

from infra.map.model import DataFlowMap, Site
from infra.map.picture import (
    BOUNDARY_COLOURS,
    CLASSIFICATION_COLOURS,
    Box,
    edges,
    externals,
    jurisdiction_title,
    node_id,
    site_boxes,
)


def _text(text: str) -> str:
    # Mermaid labels in double quotes: '#quot;' is its escape for a quote; <br/> breaks a line.
    return text.replace('"', "#quot;").replace("\\n", "<br/>")


def _box(box: Box, indent: str) -> str:
    rows = "".join(f"<br/>{_text(r)}" for r in box.rows)
    return f'{indent}{box.id}["<b>{_text(box.title)}</b>{rows}"]'


def render_mermaid_overview(flow_map: DataFlowMap) -> str:
    lines = ["flowchart LR"]
    by_jurisdiction: dict[str, list[Site]] = {}
    for site in flow_map.sites:
        by_jurisdiction.setdefault(site.jurisdiction, []).append(site)
    classes: dict[str, list[str]] = {}
    for j_index, (jurisdiction, sites) in enumerate(sorted(by_jurisdiction.items())):
        lines.append(f'  subgraph J{j_index}["{_text(jurisdiction_title(jurisdiction))}"]')
        for site in sites:
            site_id = site.id
            lines.append(f'    subgraph S_{node_id(site_id)}["{_text(site.label)}"]')
            for box in site_boxes(flow_map, site_id):
                lines.append(_box(box, "      "))
                for name, colour in CLASSIFICATION_COLOURS.items():
                    if box.fill == colour:
                        classes.setdefault(name, []).append(box.id)
            lines.append("    end")
        lines.append("  end")
    for ext_id, label in externals(flow_map).items():
        lines.append(f'  {ext_id}["{_text(label)}"]')
    styles = []
    for index, edge in enumerate(edges(flow_map)):
        arrow = "==>" if edge.boundary == "crosses" else "-.->" if edge.boundary in ("link", "unplaced") else "-->"
        lines.append(f'  {edge.source} {arrow}|"{_text(edge.label)}"| {edge.target}')
        styles.append(
            f"  linkStyle {index} stroke:{BOUNDARY_COLOURS[edge.boundary]},color:{BOUNDARY_COLOURS[edge.boundary]}"
        )
    lines += styles
    for name, colour in CLASSIFICATION_COLOURS.items():
        lines.append(f"  classDef {name} fill:{colour},stroke:#333")
        if classes.get(name):
            lines.append(f"  class {','.join(classes[name])} {name}")
    return "\n".join(lines) + "\n"


def render_mermaid_detail(flow_map: DataFlowMap, stack: str) -> str:
    lines = ["flowchart LR"]
    for group in flow_map.components.get(stack, []):
        rows = tuple(f"{count} x {kind}" for kind, count in group.children)
        box = Box(node_id(stack + group.urn), f"{group.type.rsplit(':', 1)[-1]} {group.name}", rows, "")
        lines.append(_box(box, "  "))
    for group in flow_map.components.get(stack, []):
        if group.parent:
            lines.append(f"  {node_id(stack + group.parent)} --> {node_id(stack + group.urn)}")
    return "\n".join(lines) + "\n"


def render_mermaid(flow_map: DataFlowMap) -> str:
    """The overview, then one detail view per stack, as fenced blocks (what GitHub renders)."""
    parts = ["## Hybrid overview\n", "```mermaid", render_mermaid_overview(flow_map).rstrip(), "```", ""]
    for stack in flow_map.components:
        parts += [
            f"## Stack {stack}: component tree\n",
            "```mermaid",
            render_mermaid_detail(flow_map, stack).rstrip(),
            "```",
            "",
        ]
    return "\n".join(parts)
