"""SARIF 2.1.0 for GitHub code scanning: one rule per control, remediation as help text.

Coverage gaps (a scope's ``not_scanned``, e.g. the audit's AccessDenied regions) are not results: they go in
``runs[0].invocations[0].toolExecutionNotifications`` at level ``warning``, with ``executionSuccessful: true``
(the scan finished; it could not see everything). A report without gaps has no ``invocations``.
"""

from __future__ import annotations

import json
from importlib.metadata import version

from infra.report import Finding, Report, sort_key

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"mandatory": "error", "remediate": "error", "advisory": "warning"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def render_sarif(report: Report) -> str:
    rules = [
        {
            "id": c.id,
            "name": "".join(part.capitalize() for part in c.id.split("-")),
            "shortDescription": {"text": c.title},
            "fullDescription": {"text": c.description},
            "help": {"text": c.remediation, "markdown": f"**Remediation.** {c.remediation}\n\n_{c.framework}_"},
            "defaultConfiguration": {"level": _LEVEL.get(c.enforcement, "note")},
            "properties": {
                "tags": ["compliance", *(str(x) for x in c.citations)],
                "security-severity": _SECURITY_SEVERITY[c.severity],
                "precision": "high",
            },
        }
        for c in report.controls
    ]
    index = {c.id: i for i, c in enumerate(report.controls)}
    results = [
        _result(f, index) for scope in report.scopes for f in sorted(scope.findings, key=sort_key) if f.control in index
    ]
    driver: dict[str, object] = {
        "name": report.tool,
        "version": version("hybrid-llm-infra"),
        "informationUri": "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/",
        "rules": rules,
    }
    run: dict[str, object] = {"tool": {"driver": driver}, "results": results}
    notes = [_not_scanned(scope.name, note) for scope in report.scopes for note in scope.not_scanned]
    if notes:
        driver["notifications"] = [_NOT_SCANNED]
        run["invocations"] = [{"executionSuccessful": True, "toolExecutionNotifications": notes}]
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2) + "\n"


_NOT_SCANNED = {
    "id": "not-scanned",
    "name": "NotScanned",
    "shortDescription": {"text": "Not scanned: coverage gap"},
    "fullDescription": {
        "text": "A region, service or resource could not be examined (not enabled, AccessDenied, not available, "
        "or the answer lacked what the check needs). Absence of results there is not a pass."
    },
    "defaultConfiguration": {"level": "warning"},
}


def _not_scanned(scope: str, note: str) -> dict[str, object]:
    """One coverage gap as a SARIF notification (section 3.58): what was not examined, in which scope, why."""
    return {
        "level": "warning",
        "message": {"text": f"[{scope}] not scanned: {note}"},
        "descriptor": {"id": "not-scanned", "index": 0},
        "properties": {"scope": scope},
    }


def _result(finding: Finding, index: dict[str, int]) -> dict[str, object]:
    location: dict[str, object] = {
        "logicalLocations": [{"fullyQualifiedName": finding.location, "kind": "resource"}],
    }
    if finding.artifact:
        location["physicalLocation"] = {
            "artifactLocation": {"uri": finding.artifact},
            "region": {"startLine": 1},
        }
    result: dict[str, object] = {
        "ruleId": finding.control,
        "ruleIndex": index[finding.control],
        "level": _LEVEL.get(finding.enforcement, "note"),
        "message": {"text": f"[{finding.scope}] {finding.message}"},
        "locations": [location],
        "partialFingerprints": {"resource/v1": f"{finding.control}:{finding.location}"},
    }
    if finding.status == "exempt":
        result["suppressions"] = [{"kind": "external", "justification": finding.exempt_reason or "exempted"}]
    return result
