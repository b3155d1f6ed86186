"""The on-prem GPU cluster, where restricted data is processed.

Namespaces labelled with residency and Pod Security admission (``restricted`` for inference, ``privileged``
only for the GPU operator and the VPN gateway); the NVIDIA GPU Operator as a pinned Helm release; per
inference namespace a default-deny NetworkPolicy, a ResourceQuota (GPUs included) and a LimitRange;
PriorityClasses for inference and batch; and the InferenceServices of the models served here.

The GPU operator is a ``helm.v3.Release`` rather than a ``helm.v4.Chart``: the operator's chart relies on
Helm hooks (CRD upgrades, cleanup on uninstall) that only Helm itself runs, a Release is one resource whose
chart, version and repository a policy can read, and it needs no chart rendering at preview time (so it
runs offline under ``infra check``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_metrics import admit_scraper
from components.dcgm_counters import counters_csv
from components.helm_chart import HelmChart, pinned_release
from components.inference_service import InferenceService, InferenceServiceArgs, dns_egress_rule
from components.model_scaling import Scraper
from components.network_policies import default_deny_ingress

PSS_RESTRICTED = "restricted"
PSS_PRIVILEGED = "privileged"
GPU_RESOURCE_QUOTA_KEY = "requests.nvidia.com/gpu"
DCGM_EXPORTER = ({"app": "nvidia-dcgm-exporter"}, 9400)
"""The GPU Operator's DCGM exporter pods and metrics port (gpu-operator assets/state-dcgm-exporter)."""
DCGM_COUNTERS_CONFIG_MAP = "dcgm-exporter-counters"


def with_dcgm_counters(values: Mapping[str, Any]) -> dict[str, Any]:
    """The operator's values with the shared counters CSV as the exporter's metrics (components/dcgm_counters.py).

    gpu-operator v25.3.4: ``dcgmExporter.config`` with ``create`` makes the chart render a ConfigMap of that name in
    the release namespace with the CSV under ``dcgm-metrics.csv`` (templates/dcgm_exporter_config.yaml); the
    ClusterPolicy names it and the operator mounts that key at /etc/dcgm-exporter/dcgm-metrics.csv and points
    ``DCGM_EXPORTER_COLLECTORS`` there (controllers/object_controls.go). The config rejects a user's own
    ``dcgmExporter.config`` (stackconfig/onprem_cluster.py), so nothing is overridden silently here.
    """
    exporter = {**values.get("dcgmExporter", {})}
    exporter["config"] = {"name": DCGM_COUNTERS_CONFIG_MAP, "create": True, "data": counters_csv()}
    return {**values, "dcgmExporter": exporter}


@dataclass(frozen=True)
class GpuOperatorArgs:
    """The NVIDIA GPU Operator's Helm release."""

    version: str
    """Exact chart version (pinned)."""
    repository: str = "https://helm.ngc.nvidia.com/nvidia"
    chart: str = "gpu-operator"
    namespace: str = "gpu-operator"
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NamespaceQuotaArgs:
    gpus: int = 8
    requests_cpu: str = "64"
    requests_memory: str = "512Gi"
    limits_cpu: str = "128"
    limits_memory: str = "768Gi"
    pods: int = 50


@dataclass(frozen=True)
class ContainerDefaultsArgs:
    default_cpu: str = "1"
    default_memory: str = "1Gi"
    default_request_cpu: str = "100m"
    default_request_memory: str = "256Mi"


@dataclass(frozen=True)
class PriorityClassArgs:
    name: str
    value: int
    description: str
    preempts: bool
    """False: waits for room instead of evicting lower-priority pods (preemptionPolicy Never)."""


DEFAULT_PRIORITY_CLASSES = (
    PriorityClassArgs("inference-critical", 100000, "Online LLM inference: pre-empts batch work.", True),
    PriorityClassArgs("batch-low", 1000, "Batch and offline jobs: never pre-empts, yields to inference.", False),
)


@dataclass(frozen=True)
class OnPremInferenceClusterArgs:
    """Inputs of OnPremInferenceCluster."""

    namespaces: Sequence[str]
    """Namespaces for inference workloads (Pod Security 'restricted')."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Residency labels carried by every object."""
    gpu_operator: GpuOperatorArgs | None = None
    vpn_gateway_namespace: str | None = None
    """Privileged namespace for the VPN gateway (it needs NET_ADMIN and host networking)."""
    quotas: Mapping[str, NamespaceQuotaArgs] = field(default_factory=dict)
    """Per inference namespace; unlisted namespaces get NamespaceQuotaArgs()."""
    container_defaults: ContainerDefaultsArgs = field(default_factory=ContainerDefaultsArgs)
    priority_classes: Sequence[PriorityClassArgs] = DEFAULT_PRIORITY_CLASSES
    services: Mapping[str, InferenceServiceArgs] = field(default_factory=dict)
    """InferenceServices by name; each in one of ``namespaces``."""
    scraper: Scraper | None = None
    """The cluster's Prometheus: admitted to the GPU Operator's DCGM exporter."""
    gpu_operator_depends_on: Sequence[pulumi.Resource] = ()
    """E.g. kube-prometheus-stack, whose CRDs the operator needs to create the exporter's ServiceMonitor."""

    def __post_init__(self) -> None:
        for name, service in self.services.items():
            if service.namespace not in self.namespaces:
                raise ValueError(
                    f"service {name}: namespace {service.namespace!r} is not one of {list(self.namespaces)}"
                )
        for namespace in self.namespaces:
            quota = self.quotas.get(namespace, NamespaceQuotaArgs())
            need = sum(s.gpus * s.max_replicas for s in self.services.values() if s.namespace == namespace)
            if need > quota.gpus:
                raise ValueError(
                    f"namespace {namespace}: services need {need} GPUs at max scale, quota is {quota.gpus}"
                )


class OnPremInferenceCluster(pulumi.ComponentResource):
    """Everything the platform puts on the existing on-prem Kubernetes cluster."""

    namespaces: dict[str, k8s.core.v1.Namespace]
    priority_classes: dict[str, k8s.scheduling.v1.PriorityClass]
    gpu_operator: k8s.helm.v3.Release | None
    services: dict[str, InferenceService]

    def __init__(self, name: str, args: OnPremInferenceClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:onprem:OnPremInferenceCluster", name, None, opts)
        self._name = name
        self._labels = dict(args.labels)
        self.namespaces = {}
        for namespace in args.namespaces:
            ns = self._namespace(namespace, PSS_RESTRICTED)
            self.namespaces[namespace] = ns
            self._workload_guards(namespace, ns, args)

        self.priority_classes = {
            pc.name: k8s.scheduling.v1.PriorityClass(
                f"{name}-priority-{pc.name}",
                metadata=self._meta(pc.name),
                value=pc.value,
                global_default=False,
                preemption_policy="PreemptLowerPriority" if pc.preempts else "Never",
                description=pc.description,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for pc in args.priority_classes
        }

        self.gpu_operator = None
        if args.gpu_operator is not None:
            self.gpu_operator = self._gpu_operator(args.gpu_operator, args)
        if args.vpn_gateway_namespace:
            ns = self._namespace(args.vpn_gateway_namespace, PSS_PRIVILEGED)
            self.namespaces[args.vpn_gateway_namespace] = ns
            self._default_deny_ingress(args.vpn_gateway_namespace, ns)

        self.services = {}
        for service_name, service_args in args.services.items():
            labels = {**self._labels, **service_args.labels}
            self.services[service_name] = InferenceService(
                service_name,
                dataclasses.replace(service_args, labels=labels),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[self.namespaces[service_args.namespace], *self.priority_classes.values()],
                ),
            )
        self.register_outputs(
            {
                "namespaces": list(self.namespaces),
                "priorityClasses": list(self.priority_classes),
                "services": {n: s.endpoint for n, s in self.services.items()},
            }
        )

    # --- helpers -------------------------------------------------------------------------
    def _meta(self, name: str, namespace: str | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(self._labels))

    def _namespace(self, namespace: str, level: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{self._name}-ns-{namespace}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace,
                labels={
                    **self._labels,
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/audit": level,
                    "pod-security.kubernetes.io/warn": level,
                },
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _in(self, ns: k8s.core.v1.Namespace) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=[ns])

    def _workload_guards(self, namespace: str, ns: k8s.core.v1.Namespace, args: OnPremInferenceClusterArgs) -> None:
        """Default-deny (ingress and egress) with DNS allowed, ResourceQuota with GPUs, LimitRange."""
        prefix = f"{self._name}-{namespace}"
        k8s.networking.v1.NetworkPolicy(
            f"{prefix}-default-deny",
            metadata=self._meta("default-deny", namespace),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            opts=self._in(ns),
        )
        k8s.networking.v1.NetworkPolicy(
            f"{prefix}-allow-dns",
            metadata=self._meta("allow-dns", namespace),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[dns_egress_rule()],
            ),
            opts=self._in(ns),
        )
        quota = args.quotas.get(namespace, NamespaceQuotaArgs())
        k8s.core.v1.ResourceQuota(
            f"{prefix}-quota",
            metadata=self._meta("compute", namespace),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    GPU_RESOURCE_QUOTA_KEY: str(quota.gpus),
                    "requests.cpu": quota.requests_cpu,
                    "requests.memory": quota.requests_memory,
                    "limits.cpu": quota.limits_cpu,
                    "limits.memory": quota.limits_memory,
                    "pods": str(quota.pods),
                }
            ),
            opts=self._in(ns),
        )
        defaults = args.container_defaults
        k8s.core.v1.LimitRange(
            f"{prefix}-limits",
            metadata=self._meta("container-defaults", namespace),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default={"cpu": defaults.default_cpu, "memory": defaults.default_memory},
                        default_request={
                            "cpu": defaults.default_request_cpu,
                            "memory": defaults.default_request_memory,
                        },
                    )
                ]
            ),
            opts=self._in(ns),
        )

    def _default_deny_ingress(self, namespace: str, ns: k8s.core.v1.Namespace) -> None:
        """System namespaces: default-deny ingress. Egress stays open (the operator talks to the API server and
        pulls drivers); the VPN gateway runs on the host network, where NetworkPolicy does not reach."""
        default_deny_ingress(f"{self._name}-{namespace}-default-deny-ingress", namespace, self._labels, self._in(ns))

    def _gpu_operator(self, operator: GpuOperatorArgs, args: OnPremInferenceClusterArgs) -> k8s.helm.v3.Release:
        ns = self._namespace(operator.namespace, PSS_PRIVILEGED)
        self.namespaces[operator.namespace] = ns
        self._default_deny_ingress(operator.namespace, ns)
        if args.scraper is not None:
            pods, port = DCGM_EXPORTER
            admit_scraper(
                f"{self._name}-dcgm-exporter", operator.namespace, pods, port, args.scraper, self._labels, self._in(ns)
            )
        return pinned_release(
            f"{self._name}-gpu-operator",
            release_name="gpu-operator",
            source=HelmChart(operator.repository, operator.chart, operator.version),
            namespace=operator.namespace,
            values=with_dcgm_counters(operator.values),
            timeout=900,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, *args.gpu_operator_depends_on]),
        )
