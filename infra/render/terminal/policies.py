"""The human-readable report: a table of resources per stack, then its exports."""

from __future__ import annotations

import json
from typing import Any

from infra.report import Report, sort_key


def render_inventory(doc: dict[str, Any]) -> str:
    lines: list[str] = []
    for stack in doc["stacks"]:
        lines.append(f"Stack {stack['stack']}")
        if stack["problems"]:
            lines.extend(f"  error: {p}" for p in stack["problems"])
            lines.append("")
            continue
        by_urn = {r["urn"]: r for r in stack["resources"]}
        rows = [("TYPE", "NAME", "PARENT")]
        for r in stack["resources"]:
            parent = by_urn.get(r["parent"] or "")
            rows.append((r["type"], r["name"], parent["name"] if parent else ""))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            lines.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        lines.append(f"  {len(stack['resources'])} resources")
        lines.append("  Outputs:")
        for key, value in stack["outputs"].items():
            text = value if isinstance(value, str) else json.dumps(value)
            lines.append(f"    {key}: {text}")
        lines.append("")
    return "\n".join(lines)


def render_report(report: Report) -> str:
    """Like the Pulumi CLI's "Policies" section: a verdict per scope, violations by enforcement and severity."""
    lines = [f"Policies ({report.tool}):"]
    for scope in report.scopes:
        failing = [f for f in scope.findings if f.status == "fail"]
        mandatory = any(f.enforcement == "mandatory" for f in failing)
        icon = "❌" if mandatory else ("⚠️" if failing else "✅")
        lines.append(f"    {icon} {scope.name} ({len(scope.checked)} checked, {len(failing)} violation(s))")
        for note in scope.not_scanned:
            lines.append(f"        not scanned: {note}")
        for f in sorted(scope.findings, key=sort_key):
            tag = "exempt" if f.status == "exempt" else f.enforcement
            lines.append(f"        - [{tag}] [{f.severity}] {f.control}  ({f.location})")
            lines.append(f"          {f.message}")
            if f.status == "exempt":
                lines.append(f"          exempt: {f.exempt_reason}")
    return "\n".join(lines) + "\n"
