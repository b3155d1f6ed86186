"""``infra check`` (and ``infra audit``) for a person at a terminal.

``render_check``: the verdict per stack, then per stack its resource tree and exports, then the policies;
``render_verdict``: the verdict again, for the very end of the output (after any further sections).
"""

from __future__ import annotations

from typing import Any

from infra.render.terminal.exports import render_exports, show_output
from infra.render.terminal.policies import render_report
from infra.render.terminal.style import Style, truncate_middle
from infra.render.terminal.tree import render_tree
from infra.render.terminal.verdict import verdict_lines
from infra.report import Report


def render_verdict(doc: dict[str, Any], report: Report | None, style: Style) -> str:
    return "\n".join(verdict_lines(doc, report, style)) + "\n"


def render_check(doc: dict[str, Any], report: Report | None, style: Style, verbose: bool = False) -> str:
    """Everything but the closing verdict; ``report`` None when the policy pack did not run."""
    lines = [render_verdict(doc, report, style)]
    for stack in doc["stacks"]:
        head = f"{stack['stack']}  ({len(stack['resources'])} resources)"
        lines.append(style.paint(truncate_middle(head, style.width, style.ellipsis), "1"))
        for problem in stack["problems"]:
            lines.append(truncate_middle(f"  error: {problem}", style.width, style.ellipsis))
        if stack["resources"]:
            lines.extend(render_tree(stack, style, verbose))
        if stack["outputs"]:
            lines.append(f"  Outputs ({len(stack['outputs'])})")
            lines.extend(render_exports(stack["outputs"], style))
        lines.append("")
    text = "\n".join(lines) + "\n"
    if report is not None:
        text += render_report(report, style) + "\n"
    return text


def render_full(doc: dict[str, Any], report: Report | None, style: Style, verbose: bool = False) -> str:
    """The whole terminal report as ``infra check`` prints it when no other section comes between."""
    return render_check(doc, report, style, verbose) + render_verdict(doc, report, style)


__all__ = ["Style", "render_check", "render_full", "render_report", "render_verdict", "show_output"]
