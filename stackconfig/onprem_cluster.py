"""Config of the on-prem GPU cluster: GPU operator, namespace quotas and limits, and the models served there.

Self-contained (pydantic + stdlib + stackconfig.inference): stackconfig/models.py imports it at its top.
The checks across fields (GPU quota, namespaces the models live in) are ``cluster_problems``; the loader
runs them after the models validate, before anything is registered. Defaults live here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from residency import ONPREM_ONLY_CLASSIFICATIONS
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
        # GPU telemetry; the operator creates the exporter's ServiceMonitor when the Prometheus Operator CRDs exist.
        "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": True}},
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

    @field_validator("values")
    @classmethod
    def _counters_are_the_platforms(cls, values: dict[str, Any]) -> dict[str, Any]:
        exporter = values.get("dcgmExporter")
        if isinstance(exporter, Mapping) and "config" in exporter:
            raise ValueError(
                "dcgmExporter.config is set by the platform: the exporter's counters are the shared CSV "
                "(components/dcgm_counters.py) the GPU alerts rely on; add a field there, for both clusters"
            )
        return values

    def merged_values(self) -> dict[str, Any]:
        return _deep_merge(default_gpu_operator_values(), self.values)


# Kubernetes validates spec.loadBalancerClass as a qualified name (apimachinery ValidateQualifiedName, called from
# validateLoadBalancerClassField in pkg/apis/core/validation): an optional DNS-1123 subdomain prefix and '/', then a
# name of at most 63 characters, alphanumeric at both ends, '-', '_' and '.' inside (e.g. service.k8s.aws/nlb).
_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _load_balancer_class(value: str) -> str:
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        raise ValueError(f"prefix {prefix!r} of {value!r} is not a DNS-1123 subdomain (e.g. metallb.io/metallb)")
    if not _QUALIFIED_NAME.fullmatch(name):
        raise ValueError(
            f"{value!r} is not a qualified name: [prefix/]name, the name at most 63 characters of letters, digits, "
            "'-', '_' and '.', starting and ending alphanumeric, the prefix a DNS-1123 subdomain (e.g. metallb.io/metallb)"
        )
    return value


LoadBalancerClass = Annotated[str, AfterValidator(_load_balancer_class)]


class ServiceExposureConfig(_Model):
    """How the site exposes models to callers outside the cluster (kubernetes.serviceExposure)."""

    type: Literal["LoadBalancer", "NodePort"] = Field(
        default="LoadBalancer", description="LoadBalancer (the site's load balancer implementation) or NodePort."
    )
    load_balancer_class: LoadBalancerClass | None = Field(
        default=None,
        description="spec.loadBalancerClass of exposed Services (unset: the cluster's default implementation).",
    )

    @model_validator(mode="after")
    def _class_needs_load_balancer(self) -> ServiceExposureConfig:
        if self.load_balancer_class is not None and self.type != "LoadBalancer":
            raise ValueError("loadBalancerClass may only be set with type LoadBalancer (Kubernetes forbids it)")
        return self


class ModelExposure(_Model):
    """Who outside the cluster may call a model (default: nobody; only clientNamespaces inside it)."""

    onprem: bool = Field(
        default=False, description="Reachable from the on-prem networks (addressPlan.onprem.cidrs) through a Service."
    )
    aws_sites: list[DnsLabel] = Field(
        default_factory=list,
        description="AWS sites (addressPlan.awsSites) whose VPC may call the model over the VPN; never for restricted.",
    )


class OnPremInferenceServiceConfig(InferenceServiceConfig):
    """An on-prem model, optionally exposed beyond the cluster."""

    exposure: ModelExposure = Field(default_factory=ModelExposure)


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


def exposure_problems(
    base: str, models: Sequence[OnPremInferenceServiceConfig], aws_sites: Sequence[str], stack_classification: str
) -> list[Problem]:
    """Restricted models are never exposed toward AWS; the sites named must be in the address plan."""
    problems: list[Problem] = []
    for i, model in enumerate(models):
        path = f"{base}.models[{i}].exposure.awsSites"
        sites = model.exposure.aws_sites
        classification = model.data_classification or stack_classification
        if sites and classification in ONPREM_ONLY_CLASSIFICATIONS:
            problems.append(
                Problem(
                    path,
                    f"model {model.name!r} is classified {classification!r}: restricted data is never reachable from "
                    "AWS; allowed for it: [] (use exposure.onprem for on-prem callers)",
                )
            )
        for site in sites:
            if site not in aws_sites:
                problems.append(
                    Problem(path, f"{site!r} is not a site of addressPlan.awsSites (have: {', '.join(aws_sites)})")
                )
    return problems


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
