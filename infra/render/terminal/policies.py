"""The "Policies" section, like the Pulumi CLI's: a verdict per scope, violations by enforcement and severity.

Shared by ``infra check`` and ``infra audit``. Without a :class:`Style` it prints as it always has (symbols,
full URNs/ARNs, no width limit); with one it fits the width: locations cut in the middle, messages wrapped.
"""

from __future__ import annotations

import textwrap

from infra.render.terminal.style import Style, truncate_middle
from infra.report import Report, sort_key

FANCY_ICONS = {"ok": "✅", "warn": "⚠️", "fail": "❌"}
PLAIN_ICONS = {"ok": "[ok]", "warn": "[warn]", "fail": "[FAIL]"}
COLOURS = {"ok": "32", "warn": "33", "fail": "31"}


def icon(kind: str, style: Style | None) -> str:
    if style is None:
        return FANCY_ICONS[kind]
    if not style.fancy:
        return PLAIN_ICONS[kind].ljust(6)
    return style.paint(FANCY_ICONS[kind], COLOURS[kind])


def render_report(report: Report, style: Style | None = None) -> str:
    width = style.width if style else 0
    heading = f"Policies ({report.tool}):"
    lines = [truncate_middle(heading, width, style.ellipsis) if style else heading]

    def fit(text: str, indent: str) -> str:
        return indent + (truncate_middle(text, width - len(indent), style.ellipsis) if style else text)

    def wrap(text: str, indent: str) -> list[str]:
        if style is None:
            return [indent + text]
        return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent) or [indent]

    for scope in report.scopes:
        failing = [f for f in scope.findings if f.status == "fail"]
        mandatory = any(f.enforcement == "mandatory" for f in failing)
        kind = "fail" if mandatory else ("warn" if failing else "ok")
        counts = f"{scope.name} ({len(scope.checked)} checked, {len(failing)} violation(s))"
        lines.append(
            f"    {icon(kind, style)} " + (truncate_middle(counts, width - 13, style.ellipsis) if style else counts)
        )
        for note in scope.not_scanned:
            lines.extend(wrap(f"not scanned: {note}", " " * 8))
        for f in sorted(scope.findings, key=sort_key):
            tag = "exempt" if f.status == "exempt" else f.enforcement
            lines.append(fit(f"- [{tag}] [{f.severity}] {f.control}  ({f.location})", " " * 8))
            lines.extend(wrap(f.message, " " * 10))
            if f.status == "exempt":
                lines.extend(wrap(f"exempt: {f.exempt_reason}", " " * 10))
    return "\n".join(lines) + "\n"
