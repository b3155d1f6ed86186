"""Config of the on-prem GPU cluster: GPU operator, namespace quotas and limits, and the models served there.

Self-contained (pydantic + stdlib + stackconfig.inference): stackconfig/models.py imports it at its top.
The checks across fields (GPU quota, namespaces the models live in) are ``cluster_problems``; the loader
runs them after the models validate, before anything is registered. Defaults live here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from stackconfig.errors import Problem
from stackconfig.inference import InferenceServiceConfig, Quantity, _Model
from stackconfig.types import DnsLabel

GPU_OPERATOR_REPOSITORY = "https://helm.ngc.nvidia.com/nvidia"
GPU_OPERATOR_VERSION = "v25.3.4"


def default_gpu_operator_values() -> dict[str, Any]:
    return {
        # Drivers and the container toolkit managed by the operator, on every GPU node.
        "driver": {"enabled": True},
        "toolkit": {"enabled": True},
        "devicePlugin": {"enabled": True},
        "dcgmExporter": {"enabled": True},
        "nfd": {"enabled": True},
        "migManager": {"enabled": False},
        # GPU nodes carry nvidia.com/gpu=true:NoSchedule; the operator's daemonsets must run there.
        "daemonsets": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
    }


class GpuOperatorConfig(_Model):
    """The NVIDIA GPU Operator, a Helm release in its own (privileged) namespace."""

    namespace: DnsLabel = Field(default="gpu-operator", description="Namespace of the operator (privileged).")
    chart: str = Field(default="gpu-operator", min_length=1, description="Chart name.")
    repository: str = Field(
        default=GPU_OPERATOR_REPOSITORY, pattern=r"^(https|oci)://\S+$", description="Chart repository (https or oci)."
    )
    version: str = Field(
        default=GPU_OPERATOR_VERSION,
        pattern=r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$",
        description="Exact chart version (no ranges: the release is pinned).",
    )
    values: dict[str, Any] = Field(
        default_factory=dict, description="Chart values, deep-merged over the defaults (default_gpu_operator_values)."
    )

    def merged_values(self) -> dict[str, Any]:
        return _deep_merge(default_gpu_operator_values(), self.values)


class NamespaceQuota(_Model):
    """ResourceQuota of one inference namespace."""

    gpus: int = Field(default=8, ge=0, le=1024, description="requests.nvidia.com/gpu.")
    requests_cpu: Quantity = Field(default="64", description="requests.cpu.")
    requests_memory: Quantity = Field(default="512Gi", description="requests.memory.")
    limits_cpu: Quantity = Field(default="128", description="limits.cpu.")
    limits_memory: Quantity = Field(default="768Gi", description="limits.memory.")
    pods: int = Field(default=50, ge=1, le=10000, description="pods.")


class ContainerDefaults(_Model):
    """LimitRange of every inference namespace: what a container gets when it names no resources."""

    default_cpu: Quantity = Field(default="1", description="Default CPU limit.")
    default_memory: Quantity = Field(default="1Gi", description="Default memory limit.")
    default_request_cpu: Quantity = Field(default="100m", description="Default CPU request.")
    default_request_memory: Quantity = Field(default="256Mi", description="Default memory request.")


class PriorityClassesConfig(_Model):
    """PriorityClasses the cluster defines: inference pre-empts batch, batch never pre-empts."""

    inference: DnsLabel = Field(default="inference-critical", description="Name of the inference class.")
    inference_value: int = Field(default=100000, ge=1, le=1000000000, description="Its priority value.")
    batch: DnsLabel = Field(default="batch-low", description="Name of the batch class.")
    batch_value: int = Field(default=1000, ge=1, le=1000000000, description="Its priority value.")


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def cluster_problems(
    base: str,
    namespaces: Sequence[str],
    quotas: Mapping[str, NamespaceQuota],
    models: Sequence[InferenceServiceConfig],
    reserved: Mapping[str, str],
) -> list[Problem]:
    """Checks across the on-prem cluster's keys. ``base`` is the key path of the kubernetes config;
    ``reserved`` maps namespaces the platform itself uses (GPU operator, VPN gateway) to their key path."""
    problems: list[Problem] = []
    for i, namespace in enumerate(namespaces):
        if namespace in reserved:
            problems.append(
                Problem(f"{base}.namespaces[{i}]", f"{namespace!r} is already used by {reserved[namespace]}")
            )
    if len(set(namespaces)) != len(namespaces):
        problems.append(Problem(f"{base}.namespaces", "namespaces must be unique"))
    for namespace in quotas:
        if namespace not in namespaces:
            problems.append(
                Problem(
                    f"{base}.quotas.{namespace}",
                    f"not an inference namespace (have: {', '.join(namespaces)})",
                )
            )
    seen: dict[str, int] = {}
    for i, model in enumerate(models):
        path = f"{base}.models[{i}]"
        if model.name in seen:
            problems.append(Problem(f"{path}.name", f"{model.name!r} is also models[{seen[model.name]}]'s name"))
        seen.setdefault(model.name, i)
        if model.namespace not in namespaces:
            problems.append(
                Problem(
                    f"{path}.namespace",
                    f"{model.namespace!r} is not an inference namespace of {base}.namespaces "
                    f"(have: {', '.join(namespaces)})",
                )
            )
    # GPU quota: every model at its maximum scale must fit its namespace's requests.nvidia.com/gpu.
    for namespace in namespaces:
        quota = quotas.get(namespace, NamespaceQuota())
        used = 0
        for i, model in enumerate(models):
            if model.namespace != namespace:
                continue
            need = model.gpus * model.autoscaling.max_replicas
            used += need
            if used > quota.gpus:
                problems.append(
                    Problem(
                        f"{base}.models[{i}].gpus",
                        f"{model.gpus} GPUs x {model.autoscaling.max_replicas} replicas (autoscaling.maxReplicas) "
                        f"brings namespace {namespace!r} to {used} GPUs, over its quota of {quota.gpus} "
                        f"({base}.quotas.{namespace}.gpus)",
                    )
                )
    return problems
