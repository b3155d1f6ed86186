"""The reviewer's report: per scope and per regulation article, which controls apply and who passes."""

from __future__ import annotations

from collections import defaultdict

from infra.report import Finding, Report, sort_key
from residency.controls import Control

_ICON = {"fail": "❌", "exempt": "⚠️"}


def render_markdown(report: Report) -> str:
    lines = [f"# Compliance report ({report.tool})", ""]
    failures = len(report.mandatory_failures)
    lines.append(f"**{failures} mandatory violation(s)** across {len(report.scopes)} scope(s).")
    lines.append("")
    for scope in report.scopes:
        lines += [f"## {scope.name}", ""]
        if scope.not_scanned:
            lines.append("**Not scanned:** " + "; ".join(scope.not_scanned))
            lines.append("")
        by_control: dict[str, list[Finding]] = defaultdict(list)
        for finding in scope.findings:
            by_control[finding.control].append(finding)
        by_article: dict[str, list[Control]] = defaultdict(list)
        for control in report.controls:
            for citation in control.citations:
                by_article[str(citation)].append(control)
        for article in sorted(by_article):
            lines += [
                f"### {article}",
                "",
                "| control | status | resources failing | exempt |",
                "| --- | --- | --- | --- |",
            ]
            for control in by_article[article]:
                findings = by_control.get(control.id, [])
                failing = [f for f in findings if f.status == "fail"]
                exempt = [f for f in findings if f.status == "exempt"]
                status = "❌ fail" if failing else ("⚠️ exempt" if exempt else "✅ pass")
                lines.append(f"| {control.title} (`{control.id}`) | {status} | {len(failing)} | {len(exempt)} |")
            lines.append("")
        if scope.findings:
            lines += [
                "### Findings",
                "",
                "| | control | enforcement | resource | message |",
                "| --- | --- | --- | --- | --- |",
            ]
            for f in sorted(scope.findings, key=sort_key):
                note = f" (exempt: {f.exempt_reason})" if f.status == "exempt" else ""
                lines.append(
                    f"| {_ICON[f.status]} | `{f.control}` | {f.enforcement} | `{f.location}` | {_cell(f.message)}{_cell(note)} |"
                )
            lines.append("")
        passing = sorted(set(scope.checked) - {f.location for f in scope.findings})
        lines.append(f"<details><summary>{len(passing)} resource(s) pass every control</summary>\n")
        lines += [f"- `{loc}`" for loc in passing]
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
