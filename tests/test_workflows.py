"""The GitHub workflow files validate against the schema check-jsonschema ships, and encode the intended order."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))


class _YAML12Loader(yaml.SafeLoader):
    """YAML as GitHub reads it: ``on:`` is a key, not the boolean True (PyYAML defaults to YAML 1.1)."""


_YAML12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YAML12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


def _load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML12Loader)


def _vendored_schema(name: str) -> dict[str, Any]:
    pytest.importorskip("check_jsonschema")
    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / name
    return json.loads(schema_file.read_text(encoding="utf-8"))


def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = _vendored_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _errors(validator: jsonschema.protocols.Validator, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_the_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"pr.yml", "preview.yml", "deploy.yml", "pulumi-up.yml"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_validates_against_the_github_workflow_schema(path: Path) -> None:
    assert _errors(_validator("github-workflows.json"), _load(path)) == []


def test_dependabot_config_validates() -> None:
    assert _errors(_validator("dependabot.json"), _load(ROOT / ".github" / "dependabot.yml")) == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda wf: wf["jobs"]["offline"].pop("runs-on"), "runs-on"),
        (lambda wf: wf["jobs"]["offline"].update({"permissions": {"id-token": "sometimes"}}), "sometimes"),
        (lambda wf: wf.update({"on": {"pull_requets": None}}), "pull_requets"),
    ],
    ids=["job-without-runs-on", "bad-permission-value", "misspelt-event"],
)
def test_the_schema_validation_can_fail(breakage: Any, expected: str) -> None:
    workflow = _load(WORKFLOWS / "pr.yml")
    breakage(workflow)
    validator = _validator("github-workflows.json")
    assert _errors(validator, workflow), "a broken workflow must not validate"
    # The reason is in the error or, under a oneOf/anyOf, in one of its sub-errors.
    pending, messages = list(validator.iter_errors(workflow)), []
    while pending:
        error = pending.pop()
        messages.append(error.message)
        pending.extend(error.context or [])
    assert any(expected in m for m in messages), messages


def test_pyyaml_default_loader_would_lose_the_on_key() -> None:
    # Why the loader above exists: with YAML 1.1 booleans "on" becomes True and the schema sees no triggers.
    assert True in yaml.safe_load((WORKFLOWS / "pr.yml").read_text())
    assert "on" in _load(WORKFLOWS / "pr.yml")


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actions_are_pinned_to_a_version(path: Path) -> None:
    for step in _steps(_load(path)):
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            _, _, ref = uses.partition("@")
            assert re.fullmatch(r"v\d+(\.\d+){0,2}|[0-9a-f]{40}", ref), f"{path.name}: {uses} is not pinned"


def test_pr_workflow_runs_tests_sarif_and_posts_the_diff() -> None:
    wf = _load(WORKFLOWS / "pr.yml")
    job = wf["jobs"]["offline"]
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert ".ci/run" in runs and "--format sarif" in runs and 'infra diff "origin/${BASE_REF}"' in runs
    uses = [s.get("uses", "") for s in job["steps"]]
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    assert any(u.startswith("marocchino/sticky-pull-request-comment@") for u in uses)
    assert job["permissions"]["security-events"] == "write"


def test_preview_covers_every_stack_with_oidc_and_the_pack() -> None:
    wf = _load(WORKFLOWS / "preview.yml")
    job = wf["jobs"]["preview"]
    stacks = {p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml")}
    matrix = {leg["stack"]: leg for leg in job["strategy"]["matrix"]["include"]}
    assert set(matrix) == stacks
    assert job["permissions"]["id-token"] == "write"
    assert "self-hosted" in matrix["onprem"]["runner"]
    pulumi = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["comment-on-pr"] is True


def test_deploy_runs_aws_stacks_before_onprem_behind_environments() -> None:
    wf = _load(WORKFLOWS / "deploy.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    jobs = wf["jobs"]
    assert sorted(jobs["onprem"]["needs"]) == ["dubai", "frankfurt"]
    for stack in ("frankfurt", "dubai", "onprem"):
        assert jobs[stack]["uses"] == "./.github/workflows/pulumi-up.yml"
        assert jobs[stack]["with"]["stack"] == stack
        assert jobs[stack]["permissions"]["id-token"] == "write"
    up = _load(WORKFLOWS / "pulumi-up.yml")["jobs"]["up"]
    assert up["environment"]["name"] == "${{ inputs.stack }}"
    step = next(s for s in up["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert step["with"]["command"] == "up" and step["with"]["policyPacks"] == "policies"
