"""GPU telemetry on EKS: NVIDIA's dcgm-exporter chart (pinned) as a DaemonSet on the GPU nodes only.

Why this and not the GPU Operator (which runs it on-prem): the EKS NVIDIA AMI already ships the driver and the
container toolkit and the device plugin runs as its own chart, so the operator would manage nothing but the
exporter. dcgm-exporter reads the kubelet's pod-resources socket (hostPath) and needs SYS_ADMIN for profiling
metrics, so it runs in its own "privileged" namespace, default-deny for ingress except Prometheus on 9400. The
chart's ServiceMonitor (a CR) is rendered by Helm, so the release waits for kube-prometheus-stack's CRDs.

The exported fields are the shared counters CSV (components/dcgm_counters.py) in the chart's ``customMetrics``: the
chart renders it into its ConfigMap ``exporter-metrics-config-map`` (key ``metrics``), mounted over the file
``-f`` names (deployment/values.yaml and templates/metrics-configmap.yaml, chart 4.8.2). The mount and the argument
are the chart's defaults, set here anyway so the chain does not rest on a default that could move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_metrics import admit_scraper, pss_labels
from components.dcgm_counters import counters_csv
from components.helm_chart import HelmChart, pinned_release
from components.model_scaling import Scraper
from components.network_policies import default_deny_ingress

TYPE_TOKEN = "hybrid-llm-infra:metrics:GpuTelemetry"
PORT = 9400
POD_LABELS = {"app.kubernetes.io/name": "dcgm-exporter"}
COUNTERS_CONFIG_MAP = "exporter-metrics-config-map"
"""Fixed name of the chart's metrics ConfigMap (templates/metrics-configmap.yaml), filled from ``customMetrics``."""
COUNTERS_PATH = "/etc/dcgm-exporter/default-counters.csv"


@dataclass(frozen=True)
class GpuTelemetryArgs:
    chart: HelmChart
    scraper: Scraper
    gpu_node_labels: Mapping[str, str]
    gpu_taint: tuple[str, str, str]
    """(key, value, effect) as Kubernetes spells the effect (NoSchedule)."""
    namespace: str = "gpu-telemetry"
    labels: Mapping[str, str] = field(default_factory=dict)
    release_depends_on: Sequence[pulumi.Resource] = ()


def chart_values(args: GpuTelemetryArgs) -> dict[str, Any]:
    key, value, effect = args.gpu_taint
    return {
        "nodeSelector": dict(args.gpu_node_labels),
        "tolerations": [{"key": key, "operator": "Equal", "value": value, "effect": effect}],
        "podLabels": dict(args.labels),
        "serviceMonitor": {"enabled": True},
        "customMetrics": counters_csv(),
        "arguments": ["-f", COUNTERS_PATH],
        "extraConfigMapVolumes": [
            {
                "name": "exporter-metrics-volume",
                "configMap": {
                    "name": COUNTERS_CONFIG_MAP,
                    "items": [{"key": "metrics", "path": COUNTERS_PATH.rsplit("/", 1)[1]}],
                },
            }
        ],
        "extraVolumeMounts": [
            {
                "name": "exporter-metrics-volume",
                "mountPath": COUNTERS_PATH,
                "subPath": COUNTERS_PATH.rsplit("/", 1)[1],
            }
        ],
    }


class GpuTelemetry(pulumi.ComponentResource):
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: GpuTelemetryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        labels = dict(args.labels)
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels={**labels, **pss_labels("privileged", "privileged")}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        default_deny_ingress(f"{name}-default-deny-ingress", args.namespace, labels, in_ns)
        admit_scraper(f"{name}-dcgm", args.namespace, POD_LABELS, PORT, args.scraper, labels, in_ns)
        self.release = pinned_release(
            f"{name}-release",
            release_name="dcgm-exporter",
            source=args.chart,
            namespace=args.namespace,
            values=chart_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, *args.release_depends_on]),
        )
        self.register_outputs({"namespace": args.namespace, "release": self.release.name})
