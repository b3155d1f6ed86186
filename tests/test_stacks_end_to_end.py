"""Each shipped stack's real __main__.py, run under the mock engine as `infra check` runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.engine import redact
from residency import REQUIRED_TAG_KEYS
from residency.kubernetes_manifests import is_kubernetes_object
from tests.stack_runs import ROOT, is_taggable, shipped_runs


def test_all_three_stacks_run_clean() -> None:
    runs = shipped_runs()
    assert set(runs) == {"frankfurt", "dubai", "onprem"}
    for run in runs.values():
        assert run.ok, (run.stack, run.problems, run.crash)
        assert run.resources


@pytest.mark.parametrize(
    ("stack", "region", "zones"),
    [
        ("frankfurt", "eu-central-1", ["eu-central-1a", "eu-central-1b", "eu-central-1c"]),
        ("dubai", "me-central-1", ["me-central-1a", "me-central-1b", "me-central-1c"]),
    ],
)
def test_aws_stacks_use_their_regions_recorded_zones(stack: str, region: str, zones: list[str]) -> None:
    run = shipped_runs()[stack]
    assert run.outputs["region"] == region
    assert run.outputs["availabilityZones"] == zones
    (provider,) = [r for r in run.resources if r.type == "pulumi:providers:aws"]
    assert provider.inputs["region"] == region
    subnets = [r for r in run.resources if r.type == "aws:ec2/subnet:Subnet"]
    assert sorted({s.inputs["availabilityZone"] for s in subnets}) == zones
    for resource in run.resources:
        if resource.type.startswith("aws:"):
            assert resource.provider == provider.urn, f"{resource.urn} does not use the regional provider"


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_every_taggable_aws_resource_carries_the_residency_tags(stack: str) -> None:
    run = shipped_runs()[stack]
    (provider,) = [r for r in run.resources if r.type == "pulumi:providers:aws"]
    default_tags = (
        json.loads(provider.inputs["defaultTags"])["tags"]
        if isinstance(provider.inputs["defaultTags"], str)
        else provider.inputs["defaultTags"]["tags"]
    )
    assert set(REQUIRED_TAG_KEYS) <= set(default_tags)
    expected = {"frankfurt": "eu", "dubai": "uae"}[stack]
    assert default_tags["data-residency"] == expected
    taggable = [r for r in run.resources if r.type.startswith("aws:") and is_taggable(r)]
    assert len(taggable) > 10
    for resource in taggable:
        effective = {**default_tags, **(resource.inputs.get("tags") or {})}
        missing = set(REQUIRED_TAG_KEYS) - set(effective)
        assert not missing, f"{resource.urn} lacks {missing}"


def test_every_kubernetes_object_carries_the_residency_labels() -> None:
    run = shipped_runs()["onprem"]
    # A Helm release or a ConfigGroup is not a Kubernetes object (no metadata): its namespace carries the labels,
    # and the CRDs a ConfigGroup installs are API types the residency-tags control skips.
    objects = [r for r in run.resources if is_kubernetes_object(r.type)]
    assert objects
    for obj in objects:
        labels = obj.inputs["metadata"]["labels"]
        assert set(REQUIRED_TAG_KEYS) <= set(labels), obj.urn
        assert labels["data-residency"] == "eu" and labels["data-classification"] == "restricted"


def test_onprem_reads_the_aws_stacks_through_stack_references() -> None:
    run = shipped_runs()["onprem"]
    refs = sorted(r.name for r in run.resources if r.type == "pulumi:pulumi:StackReference")
    assert refs == ["organization/hybrid-llm-infra/dubai", "organization/hybrid-llm-infra/frankfurt"]
    assert run.outputs["peerVpcCidrs"] == {"frankfurt": "10.20.0.0/16", "dubai": "10.30.0.0/16"}


def test_redact_hides_every_secret_marked_value() -> None:
    from pulumi.runtime.rpc import wrap_rpc_secret

    doc = {"a": wrap_rpc_secret("hunter2"), "b": [1.0, {"c": wrap_rpc_secret({"d": "x"})}]}
    assert redact(doc) == {"a": "[secret]", "b": [1, {"c": "[secret]"}]}


def _infra(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_cli_json_is_the_only_thing_on_stdout() -> None:
    result = _infra("check", "dubai", "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (stack,) = doc["stacks"]
    assert stack["stack"] == "dubai"
    resource = stack["resources"][0]
    assert set(resource) == {"urn", "type", "name", "id", "parent", "provider", "inputs"}
    providers = {r["urn"] for r in stack["resources"] if r["type"].startswith("pulumi:providers:")}
    assert all(r["provider"] in providers for r in stack["resources"] if r["type"].startswith("aws:"))
    assert "checking dubai" in result.stderr


def _copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "tests", "*.egg-info"))
    return project


def test_a_new_stack_file_works_without_code_change(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    text = (project / "Pulumi.frankfurt.yaml").read_text().replace("production", "staging")
    (project / "Pulumi.staging-frankfurt.yaml").write_text(text)
    result = _infra("check", "staging-frankfurt", "--format", "json", "--project-dir", str(project))
    assert result.returncode == 0, result.stderr
    (stack,) = json.loads(result.stdout)["stacks"]
    assert stack["outputs"]["region"] == "eu-central-1"
    provider = next(r for r in stack["resources"] if r["type"] == "pulumi:providers:aws")
    assert '"environment":"staging"' in provider["inputs"]["defaultTags"].replace(" ", "")


def test_bad_config_exits_2_with_one_line_per_problem_and_no_traceback(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    stack_file = project / "Pulumi.dubai.yaml"
    stack_file.write_text(
        stack_file.read_text().replace("me-central-1", "us-east-1").replace("azCount: 3", "azCount: 3\n    vpcCidrr: x")
    )
    result = _infra("check", "dubai", "--project-dir", str(project))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("dubai: ")]
    assert lines == [
        "dubai: hybrid-llm-infra:network.vpcCidrr: unknown key; allowed: azCount, flowLogRetentionDays, "
        "natGatewayPerAz, privateSubnetPrefix, publicSubnetPrefix",
    ]


def test_semantic_problems_are_reported_before_any_resource(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    stack_file = project / "Pulumi.dubai.yaml"
    stack_file.write_text(stack_file.read_text().replace("me-central-1", "us-east-1"))
    result = _infra("check", "dubai", "--format", "json", "--project-dir", str(project))
    assert result.returncode == 2
    (stack,) = json.loads(result.stdout)["stacks"]
    assert stack["resources"] == []
    assert stack["problems"] == ["aws:region: us-east-1 is outside jurisdiction UAE (UAE-PDPL); allowed: me-central-1"]


def test_unknown_stack_is_a_usage_error() -> None:
    result = _infra("check", "paris")
    assert result.returncode == 2
    assert "no stack 'paris'" in result.stderr
