"""A Report as JSON, for tools."""

from __future__ import annotations

import json
from dataclasses import asdict

from infra.report import Report, sort_key


def report_dict(report: Report) -> dict[str, object]:
    return {
        "tool": report.tool,
        "scopes": [
            {
                "name": s.name,
                "checked": len(s.checked),
                "notScanned": list(s.not_scanned),
                "findings": [
                    {**asdict(f), "severity": f.severity, "exempt": f.status == "exempt"}
                    for f in sorted(s.findings, key=sort_key)
                ],
            }
            for s in report.scopes
        ],
        "controls": [
            {
                "id": c.id,
                "title": c.title,
                "severity": c.severity,
                "framework": c.framework,
                "remediation": c.remediation,
            }
            for c in report.controls
        ],
    }


def render_report_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"
