"""The shared renderers: SARIF validates against the 2.1.0 schema; markdown names articles and resources."""

from __future__ import annotations

import json

import jsonschema
import pytest

from infra.render.markdown import render_markdown
from infra.render.sarif import render_sarif
from infra.report import Finding, Report, Scope
from tests.conftest import SHARED_SCHEMAS

SARIF_SCHEMA = SHARED_SCHEMAS / "sarif-2.1.0.schema.json"


def _report() -> Report:
    scope = Scope(
        "dubai",
        checked=["urn:a", "urn:b", "urn:c"],
        findings=[
            Finding(
                "kms-key-hygiene", "fail", "mandatory", "urn:a", "rotation off", "dubai", artifact="Pulumi.dubai.yaml"
            ),
            Finding("residency-tags", "exempt", "mandatory", "urn:b", "owner missing", "dubai", exempt_reason="legacy"),
        ],
    )
    return Report(tool="infra check", scopes=[scope])


@pytest.mark.skipif(not SARIF_SCHEMA.is_file(), reason="../shared/schemas is absent in this clone")
def test_sarif_validates_and_carries_rules_and_suppressions() -> None:
    doc = json.loads(render_sarif(_report()))
    jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))
    run = doc["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert "kms-key-hygiene" in rule_ids and len(rule_ids) == len(set(rule_ids))
    kms = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "kms-key-hygiene")
    assert "enable_key_rotation" in kms["help"]["text"]
    failing, exempt = run["results"]
    assert failing["level"] == "error" and "suppressions" not in failing
    assert failing["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.dubai.yaml"
    assert exempt["suppressions"] == [{"kind": "external", "justification": "legacy"}]


@pytest.mark.skipif(not SARIF_SCHEMA.is_file(), reason="../shared/schemas is absent in this clone")
def test_sarif_schema_check_can_fail() -> None:
    doc = json.loads(render_sarif(_report()))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))


def test_markdown_lists_articles_failures_exemptions_and_passes() -> None:
    text = render_markdown(_report())
    assert "## dubai" in text
    assert "### GDPR Art. 32" in text and "### UAE PDPL Art. 22-23" in text
    assert "| ❌ | `kms-key-hygiene` | mandatory | `urn:a` | rotation off |" in text
    assert "(exempt: legacy)" in text
    assert "1 resource(s) pass every control" in text and "- `urn:c`" in text
    assert "**1 mandatory violation(s)**" in text
