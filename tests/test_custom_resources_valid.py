"""Every custom resource the shipped stacks register validates against its vendored upstream CRD, and is
registered after the Helm release that installs that CRD (the API server refuses a kind it does not know)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.mocks import CapturedResource
from residency.kubernetes_manifests import HELM_RELEASE, manifest_from_inputs
from tests.crd_schema import errors, is_custom_resource
from tests.stack_runs import shipped_runs

CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"
CRD_CHARTS = {
    "keda.sh": "keda",
    "monitoring.coreos.com": "kube-prometheus-stack",
    # Installed by the stack itself from vendored files (FrontDoorGateway's ConfigGroup), not by a chart.
    "gateway.networking.k8s.io": CONFIG_GROUP,
    "gateway.envoyproxy.io": CONFIG_GROUP,
}
"""What installs each API group's CRDs: a chart's release, or the stack's ConfigGroup (others, e.g. Karpenter's, are
checked by their own tests)."""


def _custom(stack: str) -> list[CapturedResource]:
    return [r for r in shipped_runs()[stack].resources if is_custom_resource(r.type)]


def _cases() -> list[Any]:
    return [
        pytest.param(stack, resource, id=f"{stack}:{resource.type.split(':')[-1]}:{resource.name}")
        for stack in sorted(shipped_runs())
        for resource in _custom(stack)
    ]


@pytest.mark.parametrize(("stack", "resource"), _cases())
def test_custom_resource_validates_against_its_crd(stack: str, resource: CapturedResource) -> None:
    manifest = manifest_from_inputs(resource.type, resource.inputs)
    assert manifest is not None
    problems = list(errors(manifest))
    assert not problems, f"{resource.urn}:\n" + "\n".join(problems)
    if manifest["kind"] == "ScaledObject":
        # The CRD's one CEL rule (x-kubernetes-validations, which jsonschema does not evaluate), by hand.
        spec = manifest["spec"]
        assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100)


@pytest.mark.parametrize("stack", ["frankfurt", "dubai", "onprem"])
def test_one_scaled_object_and_pod_monitor_per_model(stack: str) -> None:
    deployments = {
        r.inputs["metadata"]["name"] for r in shipped_runs()[stack].resources if r.type.endswith(":Deployment")
    }
    models = {
        r.inputs["metadata"]["name"]
        for r in shipped_runs()[stack].resources
        if r.type == "kubernetes:apps/v1:Deployment"
        and r.inputs["metadata"]["labels"].get("app.kubernetes.io/component") == "inference"
    }
    assert models and models <= deployments
    for kind in ("kubernetes:keda.sh/v1alpha1:ScaledObject", "kubernetes:monitoring.coreos.com/v1:PodMonitor"):
        names = sorted(
            r.inputs["metadata"]["name"]
            for r in shipped_runs()[stack].resources
            if r.type == kind and r.inputs["metadata"]["namespace"] != "front-door"  # the gateway proxies' monitor
        )
        assert names == sorted(models), kind
    assert not [r for r in shipped_runs()[stack].resources if r.type.endswith(":HorizontalPodAutoscaler")]


@pytest.mark.parametrize("stack", ["frankfurt", "dubai", "onprem"])
def test_custom_resources_wait_for_the_release_that_installs_their_crd(stack: str) -> None:
    resources = shipped_runs()[stack].resources
    releases = {r.urn: r.inputs.get("chart") for r in resources if r.type == HELM_RELEASE}
    releases.update({r.urn: CONFIG_GROUP for r in resources if r.type == CONFIG_GROUP})
    checked = 0
    for resource in _custom(stack):
        group = resource.type.split(":")[1].rpartition("/")[0]
        if group not in CRD_CHARTS:
            continue
        charts = {releases[d] for d in resource.dependencies if d in releases}
        assert CRD_CHARTS[group] in charts, f"{resource.urn} does not wait for the {CRD_CHARTS[group]} release"
        checked += 1
    assert checked >= 2


# --- the validator itself can fail ------------------------------------------------------------

_GOOD = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {"name": "m", "namespace": "inference"},
    "spec": {
        "scaleTargetRef": {"name": "m"},
        "minReplicaCount": 1,
        "maxReplicaCount": 2,
        "triggers": [{"type": "prometheus", "metadata": {"query": "sum(x)", "threshold": "5"}}],
    },
}


def test_a_minimal_scaled_object_passes() -> None:
    assert list(errors(_GOOD)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.update(maxReplicaCount="two"), "maxReplicaCount"),
        (lambda s: s.update(cooldownPeriods=300), "cooldownPeriods"),  # unknown field (strict)
        (lambda s: s.pop("scaleTargetRef"), "scaleTargetRef"),
        (lambda s: s["triggers"][0].pop("type"), "type"),
        (lambda s: s.update(triggers=[]), "triggers"),
        (lambda s: s.update(fallback={"replicas": 1}), "failureThreshold"),
    ],
)
def test_a_broken_scaled_object_fails(change: Any, expected: str) -> None:
    import copy

    manifest = copy.deepcopy(_GOOD)
    change(manifest["spec"])
    assert any(expected in problem for problem in errors(manifest))


def test_a_kind_without_a_vendored_crd_fails() -> None:
    assert list(errors({"apiVersion": "example.com/v1", "kind": "Nothing"}))
