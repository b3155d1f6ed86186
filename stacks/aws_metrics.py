"""Metrics and autoscaling of an AWS region's cluster: encrypted EBS storage, kube-prometheus-stack, KEDA and
dcgm-exporter on the GPU nodes. Returns what each InferenceService needs (the scraper and the CRD releases)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.aws_gpu_cluster import GPU_NODE_LABEL, GPU_TAINT, AwsGpuInferenceCluster
from components.cluster_metrics import ClusterMetrics, ClusterMetricsArgs
from components.ebs_storage import STORAGE_CLASS, EncryptedEbsStorage, EncryptedEbsStorageArgs
from components.gpu_telemetry import GpuTelemetry, GpuTelemetryArgs
from components.helm_chart import HelmChart
from components.keda import Keda, KedaArgs
from components.model_scaling import Scraper
from stackconfig import AwsStackConfig
from stackconfig.helm import HelmChartConfig
from stacks.slo import build_slo_rules, build_synthetic_probes, on_call_routing

SYSTEM_NODES = {"hybrid-llm-infra/node-pool": "system"}
"""The system managed node group's label (components/aws_gpu_cluster.py)."""
_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


@dataclass(frozen=True)
class ClusterScaling:
    scraper: Scraper
    crd_releases: tuple[k8s.helm.v3.Release, ...]
    """kube-prometheus-stack (PodMonitor) and KEDA (ScaledObject): custom resources are registered after them."""


def helm_chart(config: HelmChartConfig) -> HelmChart:
    return HelmChart(config.repository, config.chart, config.version)


def build_aws_metrics(
    config: AwsStackConfig,
    cluster: AwsGpuInferenceCluster,
    kms_key_arn: pulumi.Input[str],
    account: str,
    partition: str,
    tags: Mapping[str, str],
    labels: Mapping[str, str],
    with_provider: pulumi.ResourceOptions,
) -> ClusterScaling:
    site = config.deployment.site
    metrics = config.metrics
    on_cluster = pulumi.ResourceOptions(provider=cluster.kubernetes_provider)
    storage = EncryptedEbsStorage(
        f"{site}-ebs",
        EncryptedEbsStorageArgs(
            cluster_name=cluster.cluster_name,
            cluster_arn=cluster.cluster.arn,
            account_id=account,
            partition=partition,
            kms_key_arn=kms_key_arn,
            addon_version=metrics.ebs_csi_addon_version,
            kubernetes_provider=cluster.kubernetes_provider,
            tags=tags,
            labels=labels,
            addon_depends_on=[cluster.addons["eks-pod-identity-agent"], cluster.system_node_group],
        ),
        opts=with_provider,
    )
    keda = Keda(
        f"{site}-keda",
        KedaArgs(
            chart=helm_chart(config.keda.chart),
            namespace=config.keda.namespace,
            api_server_cidrs=[config.site_plan.vpc_cidr],
            node_selector=SYSTEM_NODES,
            labels=labels,
            release_depends_on=[cluster.system_node_group],
        ),
        opts=on_cluster,
    )
    prometheus = ClusterMetrics(
        f"{site}-metrics",
        ClusterMetricsArgs(
            chart=helm_chart(metrics.chart),
            namespace=metrics.namespace,
            storage_class=STORAGE_CLASS,
            storage_size=metrics.storage_size,
            retention_time=metrics.retention_time,
            retention_size=metrics.retention_size,
            keda_namespace=config.keda.namespace,
            scrape_interval=metrics.scrape_interval,
            remote_write_urls=[endpoint.url for endpoint in metrics.remote_write],
            node_selector=SYSTEM_NODES,
            labels=labels,
            release_depends_on=[storage.storage_class, cluster.system_node_group],
            **on_call_routing(config),
        ),
        opts=on_cluster,
    )
    build_slo_rules(config, labels, [prometheus.release], on_cluster)
    build_synthetic_probes(config, labels, SYSTEM_NODES, [prometheus.release], on_cluster)
    key, value, effect = GPU_TAINT
    GpuTelemetry(
        f"{site}-gpu-telemetry",
        GpuTelemetryArgs(
            chart=helm_chart(metrics.gpu_telemetry),
            scraper=prometheus.scraper,
            gpu_node_labels=dict([GPU_NODE_LABEL]),
            gpu_taint=(key, value, _EFFECTS[effect]),
            labels=labels,
            release_depends_on=[prometheus.release],
        ),
        opts=on_cluster,
    )
    return ClusterScaling(scraper=prometheus.scraper, crd_releases=(prometheus.release, keda.release))
