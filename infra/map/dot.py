"""Graphviz: the map as plain DOT text, rendered to SVG/PNG by the real ``dot`` (Debian ``graphviz``)."""

from __future__ import annotations

import html
import shutil
import subprocess

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

_ROWS = 4


class GraphvizError(RuntimeError):
    pass


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


def _html_box(box: Box) -> str:
    rows = "".join(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">{html.escape(r)}</FONT></TD></TR>' for r in box.rows)
    return (
        f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" BGCOLOR="{box.fill}">'
        f"<TR><TD><B>{html.escape(box.title)}</B></TD></TR>{rows}</TABLE>>"
    )


def render_dot_overview(flow_map: DataFlowMap) -> str:
    lines = [
        "digraph data_flow_map {",
        '  graph [rankdir=LR, compound=true, fontname="Helvetica", newrank=true, nodesep=0.3, ranksep=1.2,'
        ' label="Data-flow map (hybrid overview): red = crosses a jurisdiction, amber = link or end not placed,'
        ' blue = stays inside", labelloc=t, fontsize=16];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    by_jurisdiction: dict[str, list[Site]] = {}
    for site in flow_map.sites:
        by_jurisdiction.setdefault(site.jurisdiction, []).append(site)
    for j_index, (jurisdiction, sites) in enumerate(sorted(by_jurisdiction.items())):
        lines += [
            f"  subgraph cluster_j{j_index} {{",
            f'    label={_q(jurisdiction_title(jurisdiction))}; style="dashed,bold"; color="#2b6cb0"; fontsize=14;',
        ]
        for site in sites:
            site_id = site.id
            lines += [
                f"    subgraph cluster_{node_id(site_id)} {{",
                f'      label={_q(site.label)}; style="rounded,filled"; fillcolor="#fbfbfb"; color="#555555";',
            ]
            for box in site_boxes(flow_map, site_id):
                lines.append(f'      {box.id} [label={_html_box(box)}, fillcolor="{box.fill}"];')
            lines.append("    }")
        lines.append("  }")
    for ext_id, label in externals(flow_map).items():
        lines.append(f'  {ext_id} [label={_q(label)}, shape=box, style="dashed", color="#d00000"];')
    for edge in edges(flow_map):
        colour = BOUNDARY_COLOURS[edge.boundary]
        style = {"crosses": "bold", "link": "dashed", "unplaced": "dashed"}.get(edge.boundary, "solid")
        width = 3 if edge.boundary == "crosses" else 1.4
        lines.append(
            f'  {edge.source} -> {edge.target} [label={_q(edge.label)}, color="{colour}", fontcolor="{colour}",'
            f" style={style}, penwidth={width}];"
        )
    legend = "".join(f'<TR><TD BGCOLOR="{colour}">{name}</TD></TR>' for name, colour in CLASSIFICATION_COLOURS.items())
    lines.append(
        f'  legend [shape=plaintext, style="", label=<<TABLE BORDER="1" CELLBORDER="0"><TR><TD><B>data classification'
        f"</B></TD></TR>{legend}</TABLE>>];"
    )
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_dot_detail(flow_map: DataFlowMap) -> str:
    """One cluster per stack: its ComponentResources as boxes (children counted by type), parent -> child."""
    lines = [
        "digraph component_trees {",
        '  graph [rankdir=TB, fontname="Helvetica", label="Component trees per stack (resources grouped by type)",'
        " labelloc=t, fontsize=16];",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=10];',
    ]
    for stack, groups in flow_map.components.items():
        lines += [f"  subgraph cluster_{node_id(stack)} {{", f'    label={_q("stack " + stack)}; color="#555555";']
        for group in groups:
            rows = tuple(f"{count} x {kind}" for kind, count in group.children)
            box = Box(node_id(stack + group.urn), f"{group.type.rsplit(':', 1)[-1]} {group.name}", rows, "#f7f7f7")
            lines.append(f"    {box.id} [label={_html_box(box)}];")
        for group in groups:
            if group.parent:
                lines.append(f"    {node_id(stack + group.parent)} -> {node_id(stack + group.urn)};")
        # Top-level components in columns of _ROWS (invisible edges): a stack's tree stays about as wide as tall.
        top = [node_id(stack + g.urn) for g in groups if g.parent is None]
        for above, below in zip(top, top[_ROWS:], strict=False):
            lines.append(f"    {above} -> {below} [style=invis];")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_image(dot_text: str, image_format: str) -> bytes:
    """SVG or PNG bytes from the real ``dot``."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizError("Graphviz 'dot' not found: install Debian's graphviz (.ci/run does)")
    done = subprocess.run([dot, f"-T{image_format}"], input=dot_text.encode(), capture_output=True, timeout=120)
    if done.returncode != 0:
        raise GraphvizError(f"dot -T{image_format} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout
