"""Every inference pod any shipped stack registers meets Pod Security Standard restricted (and our hardening)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from residency.kubernetes_manifests import api_version_and_kind, manifest_from_inputs
from residency.pod_security import hardening_violations, pod_spec_of, restricted_violations
from tests.stack_runs import shipped_runs

INFERENCE_SERVICE = "hybrid-llm-infra:inference:InferenceService"


def _inference_pods() -> list[tuple[str, dict[str, Any]]]:
    pods = []
    for stack, run in sorted(shipped_runs().items()):
        services = {r.urn for r in run.resources if r.type == INFERENCE_SERVICE}
        for resource in run.resources:
            if resource.parent not in services or not resource.type.startswith("kubernetes:"):
                continue
            manifest = manifest_from_inputs(resource.type, resource.inputs)
            if manifest is None:
                continue
            _, kind = api_version_and_kind(resource.type)
            pod = pod_spec_of(kind, manifest)
            if pod is not None:
                pods.append((f"{stack}:{resource.name}", dict(pod)))
    return pods


def test_there_are_inference_pods_to_check() -> None:
    names = [name for name, _ in _inference_pods()]
    assert "onprem:llama-31-8b" in names and "onprem:qwen25-32b" in names


@pytest.mark.parametrize(("name", "pod"), _inference_pods())
def test_inference_pod_meets_restricted(name: str, pod: dict[str, Any]) -> None:
    assert restricted_violations(pod) == [], name
    assert hardening_violations(pod) == [], name


def test_every_workload_in_a_restricted_namespace_meets_restricted() -> None:
    for stack, run in shipped_runs().items():
        restricted = {
            r.inputs["metadata"]["name"]
            for r in run.resources
            if r.type == "kubernetes:core/v1:Namespace"
            and r.inputs["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted"
        }
        for resource in run.resources:
            manifest = manifest_from_inputs(resource.type, resource.inputs)
            if manifest is None or manifest["metadata"].get("namespace") not in restricted:
                continue
            pod = pod_spec_of(manifest["kind"], manifest)
            if pod is not None:
                assert restricted_violations(pod) == [], (stack, resource.urn)


# --- the check itself catches what it must ---------------------------------------------------

GOOD: dict[str, Any] = {
    "automountServiceAccountToken": False,
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "c",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
        }
    ],
    "volumes": [{"name": "tmp", "emptyDir": {}}],
}


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    pod = copy.deepcopy(GOOD)
    node: Any = pod
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return pod


def test_the_good_pod_passes() -> None:
    assert restricted_violations(GOOD) == [] and hardening_violations(GOOD) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["hostNetwork"], True, "hostNetwork"),
        (["volumes", 0], {"name": "h", "hostPath": {"path": "/"}}, "volumes[0].hostPath"),
        (["securityContext", "runAsNonRoot"], None, "runAsNonRoot"),
        (["securityContext", "seccompProfile"], {"type": "Unconfined"}, "seccompProfile"),
        (["containers", 0, "securityContext", "allowPrivilegeEscalation"], True, "allowPrivilegeEscalation"),
        (["containers", 0, "securityContext", "capabilities"], {"drop": ["NET_RAW"]}, "capabilities.drop"),
        (["containers", 0, "securityContext", "capabilities", "add"], ["SYS_ADMIN"], "capabilities.add"),
        (["containers", 0, "securityContext", "privileged"], True, "privileged"),
        (["containers", 0, "ports"], [{"containerPort": 80, "hostPort": 80}], "hostPort"),
        (["containers", 0, "securityContext", "runAsUser"], 0, "runAsUser"),
    ],
)
def test_restricted_catches_each_violation(path: list[Any], value: Any, expected: str) -> None:
    problems = restricted_violations(_broken(path, value))
    assert any(expected in p for p in problems), problems


def test_init_containers_are_checked_too() -> None:
    pod = copy.deepcopy(GOOD)
    pod["initContainers"] = [{"name": "init", "securityContext": {}}]
    problems = restricted_violations(pod)
    assert any(p.startswith("initContainers[0].securityContext.allowPrivilegeEscalation") for p in problems)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["containers", 0, "securityContext", "readOnlyRootFilesystem"], False, "readOnlyRootFilesystem"),
        (["securityContext", "runAsUser"], None, "runAsUser"),
        (["automountServiceAccountToken"], True, "automountServiceAccountToken"),
    ],
)
def test_hardening_catches_each_violation(path: list[Any], value: Any, expected: str) -> None:
    problems = hardening_violations(_broken(path, value))
    assert any(expected in p for p in problems), problems
