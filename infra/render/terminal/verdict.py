"""One line per stack answering "can I deploy?": printed first and again last."""

from __future__ import annotations

from typing import Any

from infra.render.terminal.policies import icon
from infra.render.terminal.style import Style, display_width, truncate_middle
from infra.report import Report


def verdict_lines(doc: dict[str, Any], report: Report | None, style: Style) -> list[str]:
    """``report`` None: the policy pack did not run (``--no-policy``)."""
    scopes = {s.name: s for s in report.scopes} if report is not None else {}
    name_col = max((len(s["stack"]) for s in doc["stacks"]), default=0)
    sep = " · " if style.fancy else ", "
    lines = []
    for stack in doc["stacks"]:
        problems = len(stack["problems"])
        parts = [f"{len(stack['resources'])} resources"]
        short = [f"{len(stack['resources'])} res"]
        scope = scopes.get(stack["stack"])
        mandatory = advisory = 0
        if scope is not None:
            failing = [f for f in scope.findings if f.status == "fail"]
            mandatory = sum(f.enforcement == "mandatory" for f in failing)
            advisory = len(failing) - mandatory
            exempt = sum(f.status == "exempt" for f in scope.findings)
            parts += [f"{mandatory} mandatory", f"{advisory} advisory", f"{exempt} exempt"]
            short += [f"{mandatory} mand", f"{advisory} adv", f"{exempt} exempt"]
        elif not problems:
            parts.append("policies not run")
            short.append("no policy")
        parts.append(f"{problems} config problem{'s' if problems != 1 else ''}")
        short.append(f"{problems} config")
        kind = "fail" if problems or mandatory else ("warn" if advisory else "ok")
        name = truncate_middle(stack["stack"], style.width // 3, style.ellipsis).ljust(min(name_col, style.width // 3))
        room = style.width - display_width(icon(kind, style)) - len(name) - 3  # "icon name  text"
        text = sep.join(parts) if len(sep.join(parts)) <= room else sep.join(short)  # a narrow terminal
        text = truncate_middle(text, room, style.ellipsis)
        lines.append(f"{icon(kind, style)} {style.paint(name, '1')}  {text}")
    return lines
