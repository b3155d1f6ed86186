"""OnPremInferenceCluster under mocks, the on-prem stack end to end, and its config errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.inference_service import InferenceServiceArgs, PvcModel
from components.onprem_cluster import (
    GpuOperatorArgs,
    NamespaceQuotaArgs,
    OnPremInferenceCluster,
    OnPremInferenceClusterArgs,
)
from infra.project import load_project
from stackconfig import ConfigError, parse_stack_config
from tests.stack_runs import ROOT, shipped_runs

LABELS = {"data-residency": "eu", "data-classification": "restricted"}


def _service(namespace: str = "inference", gpus: int = 1, max_replicas: int = 2) -> InferenceServiceArgs:
    return InferenceServiceArgs(
        namespace=namespace,
        served_model_name="m",
        model=PvcModel(claim_name="weights"),
        client_namespaces=["api-gateway"],
        gpus=gpus,
        max_replicas=max_replicas,
        priority_class_name="inference-critical",
    )


def _cluster(**overrides: Any) -> OnPremInferenceCluster:
    provider = k8s.Provider("onprem", context="ctx")
    fields: dict[str, Any] = {
        "namespaces": ["inference"],
        "labels": LABELS,
        "gpu_operator": GpuOperatorArgs(version="v25.3.4", values={"driver": {"enabled": False}}),
        "vpn_gateway_namespace": "vpn-gateway",
        "quotas": {"inference": NamespaceQuotaArgs(gpus=4)},
        "services": {"llama": _service()},
    }
    return OnPremInferenceCluster(
        "onprem", OnPremInferenceClusterArgs(**{**fields, **overrides}), pulumi.ResourceOptions(provider=provider)
    )


def test_privileged_only_for_the_gpu_operator_and_the_vpn_gateway(mock_stack) -> None:
    _cluster()
    levels = {
        ns.inputs["metadata"]["name"]: ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for ns in mock_stack.of_type("kubernetes:core/v1:Namespace")
    }
    assert levels == {"inference": "restricted", "gpu-operator": "privileged", "vpn-gateway": "privileged"}
    for ns in mock_stack.of_type("kubernetes:core/v1:Namespace"):
        assert ns.inputs["metadata"]["labels"].items() >= LABELS.items()


def test_gpu_operator_is_a_pinned_release_in_its_namespace(mock_stack) -> None:
    cluster = _cluster()
    release = mock_stack.named("kubernetes:helm.sh/v3:Release", "onprem-gpu-operator")
    assert release.inputs["version"] == "v25.3.4"
    assert release.inputs["repositoryOpts"] == {"repo": "https://helm.ngc.nvidia.com/nvidia"}
    assert release.inputs["namespace"] == "gpu-operator" and release.inputs["createNamespace"] is False
    assert release.inputs["values"]["driver"] == {"enabled": False}
    assert release.inputs["values"]["dcgmExporter"]["config"]["name"] == "dcgm-exporter-counters"  # the counters CSV
    namespace = mock_stack.named("kubernetes:core/v1:Namespace", "onprem-ns-gpu-operator")
    assert namespace.urn in release.dependencies
    assert cluster.gpu_operator is not None
    assert mock_stack.resolve(cluster.gpu_operator.status)["status"] == "deployed"


def test_gpu_operator_from_an_oci_mirror_is_named_by_reference(mock_stack) -> None:
    # Helm cannot `repo add` an OCI registry: the chart reference carries it, with no repository options.
    operator = GpuOperatorArgs(version="v25.3.4", repository="oci://registry.internal.example/nvidia")
    _cluster(gpu_operator=operator)
    release = mock_stack.named("kubernetes:helm.sh/v3:Release", "onprem-gpu-operator")
    assert release.inputs["chart"] == "oci://registry.internal.example/nvidia/gpu-operator"
    assert "repositoryOpts" not in release.inputs


def test_inference_namespace_gets_default_deny_quota_with_gpus_and_limit_range(mock_stack) -> None:
    _cluster()
    deny = mock_stack.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "onprem-inference-default-deny")
    assert deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    quota = mock_stack.named("kubernetes:core/v1:ResourceQuota", "onprem-inference-quota").inputs
    assert quota["metadata"]["namespace"] == "inference"
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "4"
    limits = mock_stack.named("kubernetes:core/v1:LimitRange", "onprem-inference-limits").inputs["spec"]["limits"]
    assert limits[0]["type"] == "Container" and {"cpu", "memory"} <= set(limits[0]["default"])
    system_deny = mock_stack.named(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy", "onprem-gpu-operator-default-deny-ingress"
    )
    assert system_deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    # Quotas and LimitRanges belong to workload namespaces only.
    assert len(mock_stack.of_type("kubernetes:core/v1:ResourceQuota")) == 1


def test_priority_classes_inference_preempts_batch_never(mock_stack) -> None:
    _cluster()
    classes = {
        pc.inputs["metadata"]["name"]: pc.inputs
        for pc in mock_stack.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")
    }
    assert classes["inference-critical"]["value"] > classes["batch-low"]["value"]
    assert classes["inference-critical"]["preemptionPolicy"] == "PreemptLowerPriority"
    assert classes["batch-low"]["preemptionPolicy"] == "Never"
    assert not any(pc["globalDefault"] for pc in classes.values())


def test_services_are_children_carrying_the_cluster_labels(mock_stack) -> None:
    _cluster()
    (service,) = mock_stack.of_type("hybrid-llm-infra:inference:InferenceService")
    assert service.parent and service.parent.endswith("OnPremInferenceCluster::onprem")
    deployment = mock_stack.named("kubernetes:apps/v1:Deployment", "llama")
    assert deployment.inputs["metadata"]["labels"].items() >= LABELS.items()
    assert deployment.provider and deployment.provider.endswith("::onprem")
    namespace = mock_stack.named("kubernetes:core/v1:Namespace", "onprem-ns-inference")
    assert namespace.urn in service.dependencies


def test_args_refuse_services_beyond_the_gpu_quota_or_outside_the_namespaces() -> None:
    with pytest.raises(ValueError, match="quota is 2"):
        OnPremInferenceClusterArgs(
            namespaces=["inference"],
            quotas={"inference": NamespaceQuotaArgs(gpus=2)},
            services={"big": _service(gpus=2, max_replicas=2)},
        )
    with pytest.raises(ValueError, match="not one of"):
        OnPremInferenceClusterArgs(namespaces=["inference"], services={"x": _service(namespace="other")})


# --- the shipped on-prem stack ---------------------------------------------------------------


def test_onprem_stack_serves_the_restricted_models_and_installs_the_operator() -> None:
    run = shipped_runs()["onprem"]
    assert run.ok, (run.problems, run.crash)
    assert set(run.outputs["inferenceEndpoints"]) == {"llama-31-8b", "qwen25-32b"}
    assert run.outputs["gpuOperator"] == {"chart": "gpu-operator", "version": "v25.3.4"}
    deployments = [r for r in run.resources if r.type == "kubernetes:apps/v1:Deployment"]
    for deployment in deployments:
        pod = deployment.inputs["spec"]["template"]["spec"]
        assert pod["priorityClassName"] == "inference-critical"
        assert deployment.inputs["metadata"]["labels"]["data-classification"] == "restricted"
    (release,) = [
        r for r in run.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "gpu-operator"
    ]
    # Config values are deep-merged over the defaults: the GPU taint stays tolerated.
    assert release.inputs["values"]["daemonsets"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_restricted_models_are_served_on_no_aws_stack() -> None:
    for stack, run in shipped_runs().items():
        if stack == "onprem":
            continue
        for resource in run.resources:
            labels = (resource.inputs.get("metadata") or {}).get("labels") or {}
            assert labels.get("data-classification") != "restricted", (stack, resource.urn)


# --- config errors -----------------------------------------------------------------------------


def _onprem_config(**kubernetes: Any) -> dict[str, str]:
    raw = dict(load_project(ROOT).stack("onprem").config)
    kube = json.loads(raw["hybrid-llm-infra:kubernetes"])
    kube.update(kubernetes)
    raw["hybrid-llm-infra:kubernetes"] = json.dumps(kube)
    return raw


def _model(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "m1",
        "servedModelName": "m1",
        "modelSource": {"kind": "pvc", "claimName": "weights"},
        "clientNamespaces": ["api-gateway"],
        **overrides,
    }


def _problems(**kubernetes: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_stack_config(_onprem_config(**kubernetes))
    return [str(p) for p in info.value.problems]


def test_shipped_onprem_config_is_valid() -> None:
    config = parse_stack_config(_onprem_config())
    assert [m.name for m in config.kubernetes.models] == ["llama-31-8b", "qwen25-32b"]  # type: ignore[union-attr]


def test_gpus_beyond_the_namespace_quota_name_the_key() -> None:
    problems = _problems(quotas={"inference": {"gpus": 3}}, models=[_model(gpus=2, autoscaling={"maxReplicas": 2})])
    assert problems == [
        "hybrid-llm-infra:kubernetes.models[0].gpus: 2 GPUs x 2 replicas (autoscaling.maxReplicas) brings namespace "
        "'inference' to 4 GPUs, over its quota of 3 (hybrid-llm-infra:kubernetes.quotas.inference.gpus)"
    ]


def test_quota_is_summed_over_the_models_of_a_namespace() -> None:
    problems = _problems(
        quotas={"inference": {"gpus": 4}},
        models=[
            _model(name="a", autoscaling={"maxReplicas": 2}),
            _model(name="b", gpus=3, autoscaling={"maxReplicas": 1}),
        ],
    )
    assert len(problems) == 1 and problems[0].startswith("hybrid-llm-infra:kubernetes.models[1].gpus:")


def test_a_namespace_that_is_not_a_dns_label() -> None:
    problems = _problems(namespaces=["Inference_NS"])
    assert problems == [
        "hybrid-llm-infra:kubernetes.namespaces[0]: must be a DNS label: lowercase letters, digits and '-', "
        "at most 63 characters (got 'Inference_NS')"
    ]


def test_an_unknown_model_source_kind() -> None:
    problems = _problems(models=[_model(modelSource={"kind": "ftp", "url": "ftp://x"})])
    assert problems == [
        "hybrid-llm-infra:kubernetes.models[0].modelSource: kind 'ftp' is not a model source kind; "
        "allowed: objectStore, pvc, registry"
    ]


@pytest.mark.parametrize(
    ("kubernetes", "path"),
    [
        ({"namespaces": ["gpu-operator"]}, "hybrid-llm-infra:kubernetes.namespaces[0]"),
        ({"models": [_model(namespace="elsewhere")]}, "hybrid-llm-infra:kubernetes.models[0].namespace"),
        ({"models": [_model(), _model()]}, "hybrid-llm-infra:kubernetes.models[1].name"),
        ({"quotas": {"other": {"gpus": 1}}}, "hybrid-llm-infra:kubernetes.quotas.other"),
        ({"gpuOperator": {"version": "^25.3"}}, "hybrid-llm-infra:kubernetes.gpuOperator.version"),
        (
            {"gpuOperator": {"values": {"dcgmExporter": {"config": {"name": "mine"}}}}},
            "hybrid-llm-infra:kubernetes.gpuOperator.values",
        ),
        ({"models": [_model(extraArgs=["--enable-log-requests"])]}, "hybrid-llm-infra:kubernetes.models[0].extraArgs"),
        ({"models": [_model(image="vllm/vllm-openai:latest")]}, "hybrid-llm-infra:kubernetes.models[0].image"),
    ],
)
def test_other_bad_cluster_config_names_its_key(kubernetes: dict[str, Any], path: str) -> None:
    problems = _problems(**kubernetes)
    assert any(p.startswith(path + ":") for p in problems), problems


def test_bad_cluster_config_registers_nothing(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "tests", "*.egg-info"))
    stack_file = project / "Pulumi.onprem.yaml"
    stack_file.write_text(stack_file.read_text().replace("        gpus: 8\n", "        gpus: 1\n", 1))
    result = subprocess.run(
        [sys.executable, "-m", "infra", "check", "onprem", "--format", "json", "--project-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    stacks = {s["stack"]: s for s in json.loads(result.stdout)["stacks"]}
    assert stacks["onprem"]["resources"] == []
    assert any("kubernetes.models[0].gpus" in p for p in stacks["onprem"]["problems"])
    assert "Traceback" not in result.stderr
