"""``infra audit`` honours ``policy-exemption:<control>`` tags exactly as the policy pack does, and its SARIF
carries the not-scanned coverage notes (as tool execution notifications, still valid SARIF 2.1.0).

The same violation is planted on several resources of one moto account: one with a valid exemption, one
expired, one malformed, one exempted for another control, one without. "Today" is pinned (``today=``,
``--today`` or ``$INFRA_POLICY_TODAY``, the variable ``infra check`` hands the pack).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from infra.audit import rules
from infra.audit.scan import run_audit
from infra.cli import main
from infra.render.sarif import render_sarif
from infra.report import Finding, Report, Scope
from policies.rules.base import _waiver_note
from residency.exemptions import parse_exempt_message, parse_exemption
from tests.conftest import SHARED_SCHEMAS
from tests.test_audit import EU_TAGS, _bucket, _moto, _vpc

TODAY = date(2026, 1, 15)
VALID = "2026-06-30 KMS migration SEC-101"
EXPIRED = "2025-12-31 legacy import SEC-7"
MALFORMED = "next quarter, promise!"
SSE = "s3-encryption-and-access"
RESTRICTED = "restricted-data-onprem-only"
SARIF_SCHEMA = SHARED_SCHEMAS / "sarif-2.1.0.schema.json"


def _exempt(control: str, value: str) -> dict[str, str]:
    return {**EU_TAGS, f"policy-exemption:{control}": value}


@dataclass
class Account:
    arns: dict[str, str]


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    with pytest.MonkeyPatch.context() as monkeypatch, _moto(monkeypatch):
        monkeypatch.delenv("INFRA_POLICY_TODAY", raising=False)
        restricted = {**EU_TAGS, "data-classification": "restricted"}
        arns = {
            # one bucket rule (SSE-S3 instead of SSE-KMS), found through the S3 APIs and GetBucketTagging
            "sse-valid": _bucket("sse-valid", "eu-central-1", _exempt(SSE, VALID), kms=False),
            "sse-expired": _bucket("sse-expired", "eu-central-1", _exempt(SSE, EXPIRED), kms=False),
            "sse-none": _bucket("sse-none", "eu-central-1", EU_TAGS, kms=False),
            "sse-malformed": _bucket("sse-malformed", "eu-central-1", _exempt(SSE, MALFORMED), kms=False),
            "sse-other-control": _bucket(
                "sse-other-control", "eu-central-1", _exempt("residency-tags", VALID), kms=False
            ),
            # one tag rule (restricted data on AWS), found through the tagging API
            "vpc-valid": _vpc("eu-central-1", {**restricted, f"policy-exemption:{RESTRICTED}": VALID}),
            "vpc-expired": _vpc("eu-central-1", {**restricted, f"policy-exemption:{RESTRICTED}": EXPIRED}),
            "vpc-none": _vpc("eu-central-1", restricted),
            # alone in its region: an audit of eu-west-1 finds only an exempted violation
            "west-valid": _bucket("west-valid", "eu-west-1", _exempt(SSE, VALID), kms=False),
        }
        yield Account(arns)


def _statuses(report: Report) -> set[tuple[str, str, str]]:
    return {(f.control, f.location, f.status) for s in report.scopes for f in s.findings}


def _by_arn(report: Report) -> dict[str, Finding]:
    found = {f.location: f for s in report.scopes for f in s.findings}
    assert len(found) == sum(len(s.findings) for s in report.scopes)  # one finding per resource here
    return found


def test_valid_exemption_exempts_expired_and_missing_do_not(account: Account) -> None:
    a = account.arns
    report = run_audit(regions=["eu-central-1"], today=TODAY)

    assert _statuses(report) == {
        (SSE, a["sse-valid"], "exempt"),
        (SSE, a["sse-expired"], "fail"),
        (SSE, a["sse-none"], "fail"),
        (SSE, a["sse-malformed"], "fail"),
        (SSE, a["sse-other-control"], "fail"),
        (RESTRICTED, a["vpc-valid"], "exempt"),
        (RESTRICTED, a["vpc-expired"], "fail"),
        (RESTRICTED, a["vpc-none"], "fail"),
    }
    found = _by_arn(report)
    for name in ("sse-valid", "vpc-valid"):
        exempt = found[a[name]]
        assert exempt.exempt_reason == "until 2026-06-30: KMS migration SEC-101"
        parsed = parse_exempt_message(exempt.message)  # the pack's wording, read back by the pack's reader
        assert parsed is not None and (parsed.expires, parsed.reason) == ("2026-06-30", "KMS migration SEC-101")
        assert parsed.control == exempt.control and "Remediation:" in parsed.violation
    for name in ("sse-expired", "vpc-expired"):
        message = found[a[name]].message
        assert message.startswith("exemption expired on 2025-12-31 (legacy import SEC-7), so it waives nothing: ")
        assert found[a[name]].exempt_reason is None
    assert found[a["sse-malformed"]].message.startswith("exemption ignored, malformed (")
    for name in ("sse-none", "vpc-none", "sse-other-control"):
        assert "exemption" not in found[a[name]].message
    assert found[a["sse-none"]].message == found[a["sse-expired"]].message.split("waives nothing: ", 1)[1]
    assert report.mandatory_failures and all(f.status == "fail" for f in report.mandatory_failures)
    assert not any(f.location in (a["sse-valid"], a["vpc-valid"]) for f in report.mandatory_failures)


def test_today_decides_and_the_last_day_still_holds(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    a = account.arns
    monkeypatch.setenv("INFRA_POLICY_TODAY", "2026-06-30")  # the pack's variable; the last day holds
    assert (SSE, a["west-valid"], "exempt") in _statuses(run_audit(regions=["eu-west-1"]))
    monkeypatch.setenv("INFRA_POLICY_TODAY", "2026-07-01")
    report = run_audit(regions=["eu-west-1"])
    assert _statuses(report) == {(SSE, a["west-valid"], "fail")}
    assert _by_arn(report)[a["west-valid"]].message.startswith("exemption expired on 2026-06-30")


def test_exempt_findings_do_not_change_the_exit_code(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = account.arns
    out = tmp_path / "audit.json"
    code = main(["audit", "--regions", "eu-west-1", "--format", "json", "--output", str(out), "--today", "2026-01-15"])
    assert code == 0, capsys.readouterr().err
    [finding] = [f for s in json.loads(out.read_text())["scopes"] for f in s["findings"]]
    assert (finding["location"], finding["status"], finding["exempt"]) == (a["west-valid"], "exempt", True)
    assert finding["exempt_reason"] == "until 2026-06-30: KMS migration SEC-101"
    assert "0 finding(s), 1 exempt," in capsys.readouterr().err

    # the same resource after its last day: a failure, exit 1 (the date from the pack's variable)
    monkeypatch.setenv("INFRA_POLICY_TODAY", "2026-07-01")
    assert main(["audit", "--regions", "eu-west-1", "--format", "json"]) == 1
    assert "1 finding(s), 0 exempt," in capsys.readouterr().err
    # the three-way region: two failing findings per rule, so exit 1, and the terminal report shows the reason
    assert main(["audit", "--regions", "eu-central-1", "--today", "2026-01-15"]) == 1
    captured = capsys.readouterr()
    assert "exempt: until 2026-06-30: KMS migration SEC-101" in captured.out
    assert "6 finding(s), 2 exempt," in captured.err


def test_a_bad_today_is_bad_usage(account: Account, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--regions", "eu-west-1", "--today", "15/01/2026"]) == 2
    assert capsys.readouterr().err.strip() == "infra audit: --today='15/01/2026' is not a YYYY-MM-DD date"


def test_the_wording_is_the_packs() -> None:
    """Pack and audit word an unwaived exemption with the one method of residency.exemptions."""
    for value in (EXPIRED, MALFORMED, "2026-02-30 no such day"):
        exemption = parse_exemption(SSE, value, TODAY)
        assert not exemption.active
        assert _waiver_note(exemption) == exemption.waiver_note() != ""
    assert parse_exemption(SSE, EXPIRED, TODAY).waiver_note().startswith("exemption expired on ")
    assert parse_exemption(SSE, MALFORMED, TODAY).waiver_note().startswith("exemption ignored, malformed")
    finding = rules.finding(SSE, "arn:aws:s3:::b", "eu-central-1", "default encryption is not SSE-KMS.")
    assert rules.apply_exemption(finding, None, TODAY) is finding  # tags unreadable: nothing is waived
    assert rules.apply_exemption(finding, EU_TAGS, TODAY) is finding


# --- SARIF: coverage notes --------------------------------------------------------------------------------------


def _validate(doc: dict[str, object]) -> None:
    if not SARIF_SCHEMA.is_file():
        pytest.skip("../shared/schemas is absent in this clone")
    jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))


def test_sarif_carries_not_scanned_notes_and_validates(account: Account) -> None:
    a = account.arns
    # me-south-1 is not opted in: a not-scanned note in the global scope
    report = run_audit(regions=["eu-central-1", "me-south-1"], today=TODAY)
    notes = [(s.name, n) for s in report.scopes for n in s.not_scanned]
    assert notes == [("global", "me-south-1: region not enabled (opt-in status not-opted-in)")]
    doc = json.loads(render_sarif(report))
    run = doc["runs"][0]
    [invocation] = run["invocations"]
    assert invocation["executionSuccessful"] is True
    assert invocation["toolExecutionNotifications"] == [
        {
            "level": "warning",
            "message": {"text": "[global] not scanned: me-south-1: region not enabled (opt-in status not-opted-in)"},
            "descriptor": {"id": "not-scanned", "index": 0},
            "properties": {"scope": "global"},
        }
    ]
    assert run["tool"]["driver"]["notifications"][0]["id"] == "not-scanned"
    # exempt findings are suppressed results with the reason as justification
    suppressed = {
        r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]: r["suppressions"]
        for r in run["results"]
        if "suppressions" in r
    }
    assert suppressed == {
        a[name]: [{"kind": "external", "justification": "until 2026-06-30: KMS migration SEC-101"}]
        for name in ("sse-valid", "vpc-valid")
    }
    _validate(doc)


def test_sarif_of_a_region_scope_note_and_of_no_notes() -> None:
    scopes = [
        Scope("global"),
        Scope("eu-central-1", checked=["arn:aws:s3:::b"], not_scanned=["eks:ListClusters: AccessDeniedException"]),
    ]
    doc = json.loads(render_sarif(Report(tool="infra audit", scopes=scopes)))
    [note] = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"] == "[eu-central-1] not scanned: eks:ListClusters: AccessDeniedException"
    _validate(doc)
    # nothing unscanned (every `infra check` report): no invocations, the output is as before
    clean = json.loads(render_sarif(Report(tool="infra check", scopes=[Scope("dubai", checked=["urn:a"])])))
    assert "invocations" not in clean["runs"][0] and "notifications" not in clean["runs"][0]["tool"]["driver"]
    _validate(clean)
