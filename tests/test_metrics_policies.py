"""The metrics/autoscaling policies through the real pack: a failing and a passing fixture each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.analyzer import AnalyzedResource, PolicyPackProcess
from infra.policy_check import stack_policy_values
from residency.controls import CONTROLS
from tests.test_policies import EKS, PACK, configure, deployment, names, res

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
QUOTA = "kubernetes:core/v1:ResourceQuota"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(PACK) as process:
        yield process


@pytest.fixture
def eu(pack: PolicyPackProcess) -> PolicyPackProcess:
    configure(pack)
    return pack


def gpu_deployment(name: str, gpus: int) -> AnalyzedResource:
    props = deployment(
        {
            "resources": {
                "limits": {"nvidia.com/gpu": str(gpus), "memory": "48Gi"},
                "requests": {"nvidia.com/gpu": str(gpus)},
            }
        }
    )
    props["metadata"]["name"] = name
    return res(DEPLOYMENT, name, props)


def quota(gpus: int, namespace: str = "inference") -> AnalyzedResource:
    return res(
        QUOTA,
        f"quota-{namespace}",
        {
            "metadata": {"name": "compute", "namespace": namespace},
            "spec": {"hard": {"requests.nvidia.com/gpu": str(gpus)}},
        },
    )


def scaled_object(target: str, max_replicas: int | None) -> AnalyzedResource:
    spec: dict[str, Any] = {"scaleTargetRef": {"name": target}, "minReplicaCount": 1, "triggers": []}
    if max_replicas is not None:
        spec["maxReplicaCount"] = max_replicas
    return res(SCALED_OBJECT, f"{target}-so", {"metadata": {"name": target, "namespace": "inference"}, "spec": spec})


def quota_findings(pack: PolicyPackProcess, resources: list[AnalyzedResource]) -> list[str]:
    return [d.message for d in pack.analyze_stack(resources) if d.policy_name == "scaledobject-gpu-quota"]


def test_scaled_objects_within_the_quota_pass(eu: PolicyPackProcess) -> None:
    stack = [quota(8), gpu_deployment("a", 2), scaled_object("a", 2), gpu_deployment("b", 1), scaled_object("b", 4)]
    assert quota_findings(eu, stack) == []


def test_a_scaled_object_over_the_quota_fails(eu: PolicyPackProcess) -> None:
    [message] = quota_findings(eu, [quota(8), gpu_deployment("a", 2), scaled_object("a", 5)])
    assert "maxReplicaCount 5 x 2 GPU(s)" in message and "10 GPUs" in message and "=8" in message


def test_scaled_objects_add_up_in_their_namespace(eu: PolicyPackProcess) -> None:
    stack = [quota(4), gpu_deployment("a", 2), scaled_object("a", 2), gpu_deployment("b", 1), scaled_object("b", 1)]
    [message] = quota_findings(eu, stack)
    assert "b-so: maxReplicaCount 1 x 1 GPU(s)" in message and "to 5 GPUs" in message


def test_kedas_default_maximum_counts(eu: PolicyPackProcess) -> None:
    """maxReplicaCount left out is KEDA's default of 100, not 'no limit'."""
    assert quota_findings(eu, [quota(8), gpu_deployment("a", 1), scaled_object("a", None)])


def test_a_namespace_without_a_gpu_quota_is_not_judged(eu: PolicyPackProcess) -> None:
    assert quota_findings(eu, [quota(1, "other"), gpu_deployment("a", 2), scaled_object("a", 50)]) == []


def kps(remote_write: list[dict[str, str]], provider: Any = None) -> AnalyzedResource:
    values = {"prometheus": {"prometheusSpec": {"retention": "15d", "remoteWrite": remote_write}}}
    return res(RELEASE, "kps", {"chart": "kube-prometheus-stack", "values": values}, provider)


def prometheus_cr(url: str) -> AnalyzedResource:
    return res(
        "kubernetes:monitoring.coreos.com/v1:Prometheus",
        "prom",
        {"metadata": {"name": "p", "namespace": "monitoring"}, "spec": {"remoteWrite": [{"url": url}]}},
    )


AMP_EU = "https://aps-workspaces.eu-central-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
AMP_UAE = "https://aps-workspaces.me-central-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
AMP_US = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"


@pytest.mark.parametrize(
    ("resource", "violates"),
    [
        (kps([]), False),
        (kps([{"url": AMP_EU}], EKS), False),
        (kps([{"url": AMP_UAE}], EKS), True),
        (kps([{"url": AMP_US}]), True),
        (kps([{"url": "https://metrics.example.com/api/v1/write"}]), True),  # jurisdiction unknown
        (prometheus_cr(AMP_EU), False),
        (prometheus_cr(AMP_UAE), True),
    ],
    ids=["none", "eu-amp", "uae-amp-from-eu", "us-amp", "undeclared-host", "cr-eu", "cr-uae"],
)
def test_remote_write_outside_the_jurisdiction_fails(
    eu: PolicyPackProcess, resource: AnalyzedResource, violates: bool
) -> None:
    diagnostics = [d for d in eu.analyze(resource) if d.policy_name == "metrics-remote-write-in-jurisdiction"]
    assert bool(diagnostics) is violates, [d.message for d in diagnostics]
    for d in diagnostics:
        assert d.enforcement_level == "mandatory" == CONTROLS[d.policy_name].enforcement


def test_a_declared_receiver_counts_with_its_declared_jurisdiction(pack: PolicyPackProcess) -> None:
    url = "https://metrics.example.eu/api/v1/write"
    configure(pack, remoteWriteJurisdictions={"metrics.example.eu": "EU"})
    assert "metrics-remote-write-in-jurisdiction" not in names(pack.analyze(kps([{"url": url}])))
    configure(pack, remoteWriteJurisdictions={"metrics.example.eu": "UAE"})
    assert "metrics-remote-write-in-jurisdiction" in names(pack.analyze(kps([{"url": url}])))


def test_infra_check_declares_the_configured_receivers() -> None:
    metrics = '{"remoteWrite": [{"url": "https://metrics.example.eu/w", "jurisdiction": "EU"}]}'
    values = stack_policy_values({"hybrid-llm-infra:metrics": metrics}, {})
    assert values["remoteWriteJurisdictions"] == {"metrics.example.eu": "EU"}
