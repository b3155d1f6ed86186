"""Every Kubernetes object any shipped stack registers is valid Kubernetes for the stack's configured version.

The manifests are rebuilt from the inputs captured under ``infra check`` (apiVersion/kind from the type
token) and validated with ``kubernetes-validate`` against the upstream JSON schema, strictly (unknown fields
are errors). Helm releases are not objects: they are checked for a pinned chart version and a repository.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import kubernetes_validate
import pytest

from infra.engine import StackRun
from infra.project import load_project
from residency.kubernetes_manifests import HELM_RELEASE, api_version_and_kind, manifest_from_inputs
from stackconfig import AwsStackConfig, OnPremStackConfig, parse_stack_config
from tests.crd_schema import is_custom_resource, is_provider_component
from tests.stack_runs import ROOT, shipped_runs

PINNED_CHART_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


@cache  # once per stack and test process: loading and validating the project's config costs 0.1 s, x90 cases
def kubernetes_version(stack: str) -> str:
    """The Kubernetes minor version the stack's config names for its cluster."""
    config = parse_stack_config(load_project(ROOT).stack(stack).config)
    if isinstance(config, OnPremStackConfig):
        return config.kubernetes.version
    assert isinstance(config, AwsStackConfig)
    eks = getattr(config, "eks", None)
    version = getattr(eks, "kubernetes_version", None)
    assert version, f"{stack}: registers Kubernetes objects but its config names no EKS version"
    return str(version)


def _kubernetes_resources(run: StackRun) -> list[Any]:
    return [r for r in run.resources if r.type.startswith("kubernetes:")]


def _cases() -> list[Any]:
    return [
        pytest.param(stack, resource, id=f"{stack}:{resource.type.split(':')[-1]}:{resource.name}")
        for stack, run in sorted(shipped_runs().items())
        for resource in _kubernetes_resources(run)
        # Custom resources have no upstream Kubernetes schema: tests/test_custom_resources_valid.py checks them
        # against their vendored CRDs.
        if not is_provider_component(resource.type) and not is_custom_resource(resource.type)
    ]


def test_the_stacks_register_kubernetes_objects_to_validate() -> None:
    kinds = {r.type for run in shipped_runs().values() for r in _kubernetes_resources(run)}
    assert {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:ResourceQuota",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:helm.sh/v3:Release",
    } <= kinds


@pytest.mark.parametrize(("stack", "resource"), _cases())
def test_object_validates_against_the_upstream_schema(stack: str, resource: Any) -> None:
    manifest = manifest_from_inputs(resource.type, resource.inputs)
    assert manifest is not None, f"{resource.type} is not recognised as a Kubernetes object"
    version = kubernetes_version(stack)
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        pytest.fail(f"{resource.urn}: invalid for Kubernetes {version}: {path}: {exc.message}")
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(f"{resource.urn}: {exc.message}")


def test_every_helm_release_pins_its_chart_version_and_repository() -> None:
    releases = [(s, r) for s, run in shipped_runs().items() for r in run.resources if r.type == HELM_RELEASE]
    assert releases, "expected at least the GPU operator's release"
    for stack, release in releases:
        inputs = release.inputs
        assert PINNED_CHART_VERSION.fullmatch(str(inputs.get("version") or "")), f"{stack} {release.name}: unpinned"
        repo = (inputs.get("repositoryOpts") or {}).get("repo", "")
        chart = str(inputs.get("chart") or "")
        assert repo.startswith("https://") or chart.startswith("oci://"), f"{stack} {release.name}: no repository"
        assert inputs.get("namespace"), f"{stack} {release.name}: no namespace"


def test_gpu_operator_release_is_pinned_to_nvidias_repository() -> None:
    releases = [r for r in shipped_runs()["onprem"].resources if r.type == HELM_RELEASE]
    (release,) = [r for r in releases if r.inputs["chart"] == "gpu-operator"]
    assert release.inputs["version"] == "v25.3.4"
    assert release.inputs["repositoryOpts"]["repo"] == "https://helm.ngc.nvidia.com/nvidia"
    assert release.inputs["namespace"] == "gpu-operator"


# --- the validator itself can fail ------------------------------------------------------------


def test_type_tokens_map_to_api_versions() -> None:
    assert api_version_and_kind("kubernetes:core/v1:Namespace") == ("v1", "Namespace")
    assert api_version_and_kind("kubernetes:apps/v1:Deployment") == ("apps/v1", "Deployment")
    assert api_version_and_kind("kubernetes:networking.k8s.io/v1:NetworkPolicy") == (
        "networking.k8s.io/v1",
        "NetworkPolicy",
    )
    assert manifest_from_inputs(HELM_RELEASE, {"chart": "x"}) is None


@pytest.mark.parametrize(
    "spec",
    [
        {"replicas": "two", "selector": {"matchLabels": {"a": "b"}}, "template": {}},  # wrong type
        {"selector": {"matchLabels": {"a": "b"}}, "template": {}, "replicaz": 2},  # unknown field (strict)
        {"template": {}},  # selector is required
    ],
)
def test_schema_validation_rejects_a_broken_deployment(spec: dict[str, Any]) -> None:
    manifest = manifest_from_inputs("kubernetes:apps/v1:Deployment", {"metadata": {"name": "x"}, "spec": spec})
    assert manifest is not None
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, "1.31", strict=True)
