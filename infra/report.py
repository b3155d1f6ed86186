"""The neutral report every renderer reads: what was checked, against which controls, what failed.

``infra check`` (policy pack diagnostics) and ``infra audit`` (live findings) both build a Report,
so the terminal, JSON, Markdown and SARIF renderers exist once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from residency.controls import CONTROLS, Control

Status = Literal["fail", "exempt"]


@dataclass(frozen=True)
class Finding:
    control: str
    """Control id (residency.controls), which is also the policy name and the SARIF rule id."""
    status: Status
    enforcement: str
    """mandatory | advisory | remediate (as the pack or the audit reports it)."""
    location: str
    """URN (check) or ARN (audit)."""
    message: str
    scope: str
    """The stack (check) or the region (audit)."""
    exempt_reason: str | None = None
    artifact: str | None = None
    """A file the finding can be traced to (the stack's Pulumi.<stack>.yaml), for code scanning."""

    @property
    def severity(self) -> str:
        return CONTROLS[self.control].severity if self.control in CONTROLS else "medium"


@dataclass
class Scope:
    name: str
    checked: list[str] = field(default_factory=list)
    """Every location examined in this scope (so passes can be listed, not only failures)."""
    findings: list[Finding] = field(default_factory=list)
    not_scanned: list[str] = field(default_factory=list)
    """Honest coverage: what could not be examined, and why."""


@dataclass
class Report:
    tool: str
    scopes: list[Scope]
    controls: list[Control] = field(default_factory=lambda: list(CONTROLS.values()))

    @property
    def mandatory_failures(self) -> list[Finding]:
        return [f for s in self.scopes for f in s.findings if f.status == "fail" and f.enforcement == "mandatory"]


SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
ENFORCEMENT_ORDER = {"mandatory": 0, "remediate": 1, "advisory": 2, "disabled": 3}


def sort_key(finding: Finding) -> tuple[int, int, int, str, str]:
    """Enforcement, then severity, then policy, then URN: the order reviewers read."""
    return (
        0 if finding.status == "fail" else 1,
        ENFORCEMENT_ORDER.get(finding.enforcement, 9),
        SEVERITY_ORDER.get(finding.severity, 9),
        finding.control,
        finding.location,
    )
