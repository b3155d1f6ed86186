"""The cluster's metrics: kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, kube-state-metrics)
as one pinned ``helm.v3.Release`` in its own namespace, which it also brings the monitoring.coreos.com CRDs into.

Prometheus keeps its TSDB on a persistent volume of the given (encrypted) StorageClass, bounded in time and size,
and writes remotely only to the URLs it is given (the config admits only receivers in the stack's jurisdiction).
It selects every PodMonitor/ServiceMonitor/PrometheusRule of the cluster (``*SelectorNilUsesHelmValues: false``;
otherwise only objects labelled with the release are picked up). The namespace is default-deny for ingress;
KEDA's operator may query Prometheus, and Prometheus may reach its own namespace's pods (self-scrape,
Alertmanager, kube-state-metrics, the operator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm_chart import HelmChart, pinned_release
from components.model_scaling import Scraper, scrape_network_policy_spec
from components.network_policies import default_deny_ingress

TYPE_TOKEN = "hybrid-llm-infra:metrics:ClusterMetrics"
FULLNAME = "kube-prometheus-stack"
"""``fullnameOverride``: the Prometheus CR (and its Service) is ``<fullname>-prometheus``."""
PROMETHEUS_PORT = 9090
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": f"{FULLNAME}-prometheus"}
"""Labels the Prometheus Operator puts on the server pods (name = prometheus, instance = the Prometheus CR's name)."""
KEDA_OPERATOR_LABELS = {"app": "keda-operator"}
"""The KEDA chart's operator pods (the Deployment's selector label)."""


def pss_labels(enforce: str, warn: str) -> dict[str, str]:
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/audit": warn,
        "pod-security.kubernetes.io/warn": warn,
    }


@dataclass(frozen=True)
class ClusterMetricsArgs:
    chart: HelmChart
    namespace: str
    storage_class: pulumi.Input[str]
    storage_size: str
    retention_time: str
    retention_size: str
    keda_namespace: str
    """Namespace of KEDA, whose operator pods may query Prometheus."""
    scrape_interval: str = "15s"
    remote_write_urls: Sequence[str] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Nodes for Prometheus, Alertmanager, the operator and kube-state-metrics (EKS: the system node group)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    release_depends_on: Sequence[pulumi.Resource] = ()
    """E.g. the StorageClass and the CSI driver that provisions it."""
    alertmanager_config: Mapping[str, Any] | None = None
    """Alertmanager's own configuration (components/oncall.py); None keeps the chart's default."""
    alertmanager_secrets: Sequence[str] = ()
    """Secrets of the namespace mounted into Alertmanager under /etc/alertmanager/secrets/<name> (pager tokens)."""

    def __post_init__(self) -> None:
        if not self.retention_time or self.retention_time.startswith("0"):
            raise ValueError("retention_time must be a positive duration")
        if not self.retention_size or self.retention_size.startswith("0"):
            raise ValueError("retention_size must be a positive size")


def chart_values(args: ClusterMetricsArgs) -> dict[str, Any]:
    """Values of kube-prometheus-stack (keys of its values.yaml)."""
    nodes = dict(args.node_selector)
    return {
        "fullnameOverride": FULLNAME,
        "commonLabels": dict(args.labels),
        "crds": {"enabled": True},
        "grafana": {"enabled": False},
        # node-exporter needs hostNetwork, hostPID and hostPath (Pod Security "privileged"); host metrics are out of
        # scope here, and the namespace stays baseline-enforced.
        "nodeExporter": {"enabled": False},
        # Managed (EKS) or site-run control planes: their endpoints are not scrapeable from the pod network.
        "kubeEtcd": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "prometheusOperator": {
            "nodeSelector": nodes,
            # The validating webhook would need the API server to reach the namespace through its default-deny
            # ingress; PromQL is proven offline with promtool instead.
            "admissionWebhooks": {"enabled": False},
        },
        "kube-state-metrics": {"nodeSelector": nodes, "customLabels": dict(args.labels)},
        "alertmanager": {
            "alertmanagerSpec": {
                "nodeSelector": nodes,
                "podMetadata": {"labels": dict(args.labels)},
                **({"secrets": list(args.alertmanager_secrets)} if args.alertmanager_secrets else {}),
            },
            **({"config": dict(args.alertmanager_config)} if args.alertmanager_config is not None else {}),
        },
        "prometheus": {
            "prometheusSpec": {
                "nodeSelector": nodes,
                "podMetadata": {"labels": dict(args.labels)},
                "scrapeInterval": args.scrape_interval,
                "evaluationInterval": args.scrape_interval,
                "retention": args.retention_time,
                "retentionSize": args.retention_size,
                "podMonitorSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "podMonitorNamespaceSelector": {},
                "serviceMonitorNamespaceSelector": {},
                "ruleNamespaceSelector": {},
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "storageClassName": args.storage_class,
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": args.storage_size}},
                        }
                    }
                },
                "remoteWrite": [{"url": url} for url in args.remote_write_urls],
            }
        },
    }


class ClusterMetrics(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    release: k8s.helm.v3.Release
    scraper: Scraper

    def __init__(self, name: str, args: ClusterMetricsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        labels = dict(args.labels)
        # The chart's pods set restricted-compatible security contexts; enforce baseline (node-exporter is off) and
        # warn/audit on restricted, since the chart's rendered pods cannot be checked offline.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels={**labels, **pss_labels("baseline", "restricted")}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])

        def policy(suffix: str, spec: k8s.networking.v1.NetworkPolicySpecArgs) -> None:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{suffix}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=suffix, namespace=args.namespace, labels=labels),
                spec=spec,
                opts=in_ns,
            )

        default_deny_ingress(f"{name}-default-deny-ingress", args.namespace, labels, in_ns)
        prometheus_pods = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(PROMETHEUS_POD_LABELS))
        policy(
            "keda-queries-prometheus",
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=prometheus_pods,
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": args.keda_namespace}
                                ),
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(KEDA_OPERATOR_LABELS)),
                            )
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=PROMETHEUS_PORT)],
                    )
                ],
            ),
        )
        policy(
            "prometheus-scrapes-own-namespace",
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=prometheus_pods)]
                    )
                ],
            ),
        )
        self.release = pinned_release(
            f"{name}-release",
            release_name=FULLNAME,
            source=args.chart,
            namespace=args.namespace,
            values=chart_values(args),
            timeout=900,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, *args.release_depends_on]),
        )
        self.scraper = Scraper(
            namespace=args.namespace,
            pod_labels=dict(PROMETHEUS_POD_LABELS),
            query_url=f"http://{FULLNAME}-prometheus.{args.namespace}.svc.cluster.local:{PROMETHEUS_PORT}",
        )
        self.register_outputs({"namespace": args.namespace, "release": self.release.name})


def admit_scraper(
    name: str,
    namespace: str,
    pod_labels: Mapping[str, str],
    port: int,
    scraper: Scraper,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """A NetworkPolicy admitting the scraper to one exporter's port (e.g. DCGM's 9400) and nothing else."""
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{name}-from-prometheus"[:63], namespace=namespace, labels=dict(labels)
        ),
        spec=scrape_network_policy_spec(pod_labels, port, scraper),
        opts=opts,
    )
