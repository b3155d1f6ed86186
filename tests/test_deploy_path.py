"""Each stack's deploy and preview jobs run where its config says, and its cluster admits exactly that runner.

The chosen path (README, "Deploying for real"): every stack runs `pulumi preview`/`up` on the runner named by
``deployRunner.labels``; an AWS stack's runner is self-hosted with fixed egress CIDRs, and the EKS public
endpoint admits only those (plus ``eks.publicAccessCidrs``). A job on a GitHub-hosted runner could not reach
the cluster; a job on other runners would not be the ones the allowlist names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.project import load_project
from stackconfig import AwsStackConfig, ConfigError, parse_stack_config
from tests.stack_runs import shipped_runs

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
PROJECT = load_project(ROOT)
STACKS = PROJECT.stack_names()


class _YAML12Loader(yaml.SafeLoader):
    """``on:`` stays a key (GitHub reads YAML 1.2 booleans only)."""


_YAML12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _workflow(name: str) -> Any:
    return yaml.load((WORKFLOWS / name).read_text(encoding="utf-8"), Loader=_YAML12Loader)


def _labels(runs_on: Any) -> set[str]:
    return {runs_on} if isinstance(runs_on, str) else set(runs_on)


def deploy_job_labels(deploy: dict[str, Any], up: dict[str, Any], stack: str) -> set[str]:
    """The runs-on labels `pulumi up` of ``stack`` gets: deploy.yml's ``runner`` input, else pulumi-up.yml's default."""
    job = deploy["jobs"][stack]
    runner = job.get("with", {}).get("runner", up["on"]["workflow_call"]["inputs"]["runner"]["default"])
    runs_on = up["jobs"]["up"]["runs-on"]
    assert runs_on == "${{ fromJSON(inputs.runner) }}", "pulumi-up.yml must run on the runner it is given"
    return _labels(json.loads(runner))


def preview_job_labels(preview: dict[str, Any], stack: str) -> set[str]:
    legs = [leg for leg in preview["jobs"]["preview"]["strategy"]["matrix"]["include"] if leg["stack"] == stack]
    assert len(legs) == 1, f"preview.yml has {len(legs)} matrix legs for {stack}"
    assert preview["jobs"]["preview"]["runs-on"] == "${{ matrix.runner }}"
    return _labels(legs[0]["runner"])


def _config(stack: str) -> Any:
    return parse_stack_config(dict(PROJECT.stack(stack).config))


@pytest.mark.parametrize("stack", STACKS)
def test_deploy_and_preview_jobs_run_on_the_runner_the_stack_names(stack: str) -> None:
    wanted = set(_config(stack).deploy_runner.labels)
    deploy, up, preview = _workflow("deploy.yml"), _workflow("pulumi-up.yml"), _workflow("preview.yml")
    assert deploy_job_labels(deploy, up, stack) == wanted
    assert preview_job_labels(preview, stack) == wanted


def test_a_github_hosted_deploy_job_would_be_caught() -> None:
    deploy, up = _workflow("deploy.yml"), _workflow("pulumi-up.yml")
    deploy["jobs"]["frankfurt"]["with"].pop("runner")  # falls back to pulumi-up.yml's ubuntu-latest
    assert deploy_job_labels(deploy, up, "frankfurt") == {"ubuntu-latest"}
    assert deploy_job_labels(deploy, up, "frankfurt") != set(_config("frankfurt").deploy_runner.labels)


@pytest.mark.parametrize("stack", [s for s in STACKS if isinstance(_config(s), AwsStackConfig)])
def test_the_eks_endpoint_admits_the_deploy_runners_and_no_one_else(stack: str) -> None:
    config = _config(stack)
    (cluster,) = [r for r in shipped_runs()[stack].resources if r.type == "aws:eks/cluster:Cluster"]
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True  # nodes and pods stay on the private endpoint
    assert vpc["endpointPublicAccess"] is True
    assert set(vpc["publicAccessCidrs"]) == {*config.deploy_runner.egress_cidrs, *config.eks.public_access_cidrs}
    assert not any(cidr.endswith("/0") for cidr in vpc["publicAccessCidrs"])
    # ...and the identity those runners deploy as is a cluster admin through an access entry.
    entries = [r.inputs for r in shipped_runs()[stack].resources if r.type.endswith(":AccessEntry")]
    admins = {e["principalArn"] for e in entries if e["type"] == "STANDARD"}
    assert admins == set(config.eks.admin_principal_arns)
    # The only other principals are node roles (EC2_LINUX: kubelet permissions, no admin policy).
    assert {e["type"] for e in entries} <= {"STANDARD", "EC2_LINUX"}
    grants = {
        r.inputs["principalArn"] for r in shipped_runs()[stack].resources if r.type.endswith(":AccessPolicyAssociation")
    }
    assert grants == admins
    assert cluster.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False


def _problems(stack: str, key: str, value: Any) -> list[str]:
    raw = {**dict(PROJECT.stack(stack).config), f"hybrid-llm-infra:{key}": json.dumps(value)}
    with pytest.raises(ConfigError) as info:
        parse_stack_config(raw)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("runner", "expected"),
    [
        ({"labels": ["ubuntu-latest"], "egressCidrs": ["198.51.100.16/29"]}, r"deployRunner\.labels: .*self-hosted"),
        ({"labels": ["self-hosted"], "egressCidrs": []}, r"deployRunner\.egressCidrs: .*at least 1"),
        ({"labels": ["self-hosted"], "egressCidrs": ["0.0.0.0/0"]}, r"deployRunner\.egressCidrs\[0\]: wider than"),
        (
            {"labels": ["self-hosted"], "egressCidrs": ["10.10.0.0/24"]},
            r"deployRunner\.egressCidrs\[0\]: must be a pub",
        ),
        ({"labels": ["self-hosted"]}, r"deployRunner\.egressCidrs: required"),
    ],
)
def test_an_unreachable_or_world_open_deploy_path_is_a_config_error(runner: dict[str, Any], expected: str) -> None:
    problems = _problems("frankfurt", "deployRunner", runner)
    assert any(re.search(expected, p) for p in problems), problems


def test_an_aws_stack_without_admins_or_runner_is_refused() -> None:
    raw = dict(PROJECT.stack("dubai").config)
    raw.pop("hybrid-llm-infra:deployRunner")
    eks = json.loads(raw["hybrid-llm-infra:eks"])
    eks.pop("adminPrincipalArns")
    raw["hybrid-llm-infra:eks"] = json.dumps(eks)
    with pytest.raises(ConfigError) as info:
        parse_stack_config(raw)
    assert {str(p) for p in info.value.problems} >= {
        "hybrid-llm-infra:deployRunner: required",
        "hybrid-llm-infra:eks.adminPrincipalArns: required",
    }


@pytest.mark.parametrize("stack", [s for s in STACKS if isinstance(_config(s), AwsStackConfig)])
def test_each_model_deployment_waits_for_its_pod_identity_association(stack: str) -> None:
    resources = shipped_runs()[stack].resources
    associations = {
        (r.inputs["namespace"], r.inputs["serviceAccount"]): r.urn
        for r in resources
        if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"
    }
    deployments = [r for r in resources if r.type == "kubernetes:apps/v1:Deployment"]
    assert deployments and len(deployments) == len(_config(stack).inference)
    for deployment in deployments:
        metadata = deployment.inputs["metadata"]
        account = deployment.inputs["spec"]["template"]["spec"]["serviceAccountName"]
        assert associations[(metadata["namespace"], account)] in deployment.dependencies
