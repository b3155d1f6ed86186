"""Resources as a tree under their component parents, like ``pulumi preview``.

Components are collapsed to the count of resources beneath them unless ``verbose``; siblings are listed
components first, then by name and type, so every run prints the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from infra.render.terminal.style import Style, display_width, truncate_middle

ROOT_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Node:
    urn: str
    name: str
    type: str
    children: list[Node] = field(default_factory=list)

    @property
    def descendants(self) -> int:
        return sum(1 + child.descendants for child in self.children)


@dataclass(frozen=True)
class Row:
    depth: int
    """0 for the stack itself; a resource's depth is the length of its parent chain up to the stack."""
    last: tuple[bool, ...]
    """For each level down to this row: is that ancestor (and finally the row itself) the last sibling?"""
    name: str
    type: str
    collapsed: int | None
    """Resources hidden beneath a collapsed component."""
    urn: str


def build_tree(stack: dict[str, Any]) -> Node:
    """The stack's root (not itself in the inventory) with every resource beneath its parent."""
    resources = stack["resources"]
    nodes = {r["urn"]: Node(r["urn"], r["name"], r["type"]) for r in resources}
    project = resources[0]["urn"].split("::")[1] if resources else "project"
    name = f"{project}-{stack['stack']}"  # the name the Pulumi CLI gives a stack's root resource
    root = Node(f"urn:pulumi:{stack['stack']}::{project}::{ROOT_TYPE}::{name}", name, ROOT_TYPE)
    for r in resources:
        parent = nodes.get(r["parent"] or "")
        (parent if parent is not None else root).children.append(nodes[r["urn"]])
    _sort(root)
    return root


def _sort(node: Node) -> None:
    node.children.sort(key=lambda n: (not n.children, n.name, n.type, n.urn))
    for child in node.children:
        _sort(child)


def rows(root: Node, verbose: bool) -> list[Row]:
    out: list[Row] = []

    def walk(node: Node, depth: int, last: tuple[bool, ...]) -> None:
        collapse = bool(node.children) and depth > 0 and not verbose
        out.append(Row(depth, last, node.name, node.type, node.descendants if collapse else None, node.urn))
        if collapse:
            return
        for i, child in enumerate(node.children):
            walk(child, depth + 1, (*last, i == len(node.children) - 1))

    walk(root, 0, ())
    return out


def short_type(token: str, project: str) -> str:
    """A type as a reader wants it: ``aws:eks/cluster:Cluster`` -> ``aws:eks:Cluster``, as the Pulumi CLI's
    display shortens tokens whose module ends in the member's own name (pkg/backend/display, simplifyTypeName);
    this project's component types by their last part (``AwsGpuInferenceCluster``)."""
    parts = token.split(":")
    if len(parts) != 3:
        return token
    package, module, member = parts
    if package == project:
        return member
    head, _, file = module.rpartition("/")
    if head and file == member[:1].lower() + member[1:]:
        return f"{package}:{head}:{member}"
    return token


def _prefix(last: Sequence[bool], style: Style) -> str:
    if not last:
        return ""
    mid, end, bar = ("├─ ", "└─ ", "│  ") if style.fancy else ("|- ", "`- ", "|  ")
    return "".join(bar if not is_last else "   " for is_last in last[:-1]) + (end if last[-1] else mid)


def render_tree(stack: dict[str, Any], style: Style, verbose: bool, indent: str = "  ") -> list[str]:
    root = build_tree(stack)
    project = root.name[: -len(stack["stack"]) - 1]
    table = [(indent + _prefix(r.last, style), r) for r in rows(root, verbose)]
    # The name column is as wide as the widest prefix+name, but leaves at least 40% of the line to the type.
    name_col = min(max(display_width(p) + display_width(r.name) for p, r in table), style.width * 3 // 5)
    lines = []
    for prefix, row in table:
        name = truncate_middle(row.name, max(name_col - display_width(prefix), 8), style.ellipsis)
        left = prefix + name
        left += " " * max(name_col - display_width(left), 0) + "  "
        kind = short_type(row.type, project)
        count = f"  ({row.collapsed})" if row.collapsed is not None else ""
        room = style.width - display_width(left) - len(count)
        kind = truncate_middle(kind, max(room, 4), style.ellipsis)
        line = left + style.paint(kind, "2") + count
        if display_width(line) > style.width:  # a very deep row in a very narrow terminal
            line = truncate_middle(left + kind + count, style.width, style.ellipsis)
        lines.append(line)
    return lines
