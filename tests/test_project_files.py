"""Pulumi.yaml against Pulumi's own project schema; stack files have the ProjectStack shape."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT, SHARED_SCHEMAS

SCHEMA = SHARED_SCHEMAS / "pulumi-project.schema.json"


@pytest.mark.skipif(not SCHEMA.is_file(), reason="../shared/schemas is absent in this clone")
def test_pulumi_yaml_validates_against_pulumis_project_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    jsonschema.validate(project, schema)
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}


@pytest.mark.skipif(not SCHEMA.is_file(), reason="../shared/schemas is absent in this clone")
def test_the_schema_check_can_fail() -> None:
    schema = json.loads(SCHEMA.read_text())
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["runtime"] = {"name": 3}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(project, schema)


@pytest.mark.parametrize("path", sorted(ROOT.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_stack_files_have_only_project_stack_settings(path) -> None:
    data = yaml.safe_load(path.read_text())
    assert set(data) <= {"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"}


def test_address_plan_lives_only_in_the_project_file() -> None:
    for path in ROOT.glob("Pulumi.*.yaml"):
        assert "hybrid-llm-infra:addressPlan" not in yaml.safe_load(path.read_text())["config"]
