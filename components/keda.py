"""KEDA (operator, metrics API server, admission webhooks) as one pinned ``helm.v3.Release``; it brings the keda.sh
CRDs, so every ScaledObject is registered after it.

The namespace is default-deny for ingress, then opens what the API server and KEDA itself call: the metrics API
server (the ``external.metrics.k8s.io`` APIService, port 6443) and the admission webhooks (9443) from the networks
the API server calls from (it is not a pod, so no pod or namespace selector can name it: EKS, the VPC where the
control plane's network interfaces live; on-prem, the site's networks), and the operator's gRPC metrics service
(9666) from the metrics API server only (KEDA docs, "Cluster: Network requirements").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_metrics import pss_labels
from components.helm_chart import HelmChart, pinned_release
from components.network_policies import default_deny_ingress

TYPE_TOKEN = "hybrid-llm-infra:autoscaling:Keda"
RELEASE = "keda"
_PORTS: tuple[tuple[str, dict[str, str], int, dict[str, str] | None], ...] = (
    ("metrics-apiserver", {"app": "keda-operator-metrics-apiserver"}, 6443, None),
    ("admission-webhooks", {"app": "keda-admission-webhooks"}, 9443, None),
    ("operator-grpc", {"app": "keda-operator"}, 9666, {"app": "keda-operator-metrics-apiserver"}),
)
"""(policy, pods, port, admitted pods of this namespace or None for the API server's networks)."""


@dataclass(frozen=True)
class KedaArgs:
    chart: HelmChart
    namespace: str
    api_server_cidrs: Sequence[str]
    """Where the API server's calls to the metrics API server and the webhooks come from."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    release_depends_on: Sequence[pulumi.Resource] = ()


def chart_values(args: KedaArgs) -> dict[str, Any]:
    """Values of the kedacore/keda chart."""
    return {
        "crds": {"install": True},
        "nodeSelector": dict(args.node_selector),
        "additionalLabels": dict(args.labels),
        "podLabels": {"keda": dict(args.labels), "metricsAdapter": dict(args.labels), "webhooks": dict(args.labels)},
    }


class Keda(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        labels = dict(args.labels)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels={**labels, **pss_labels("baseline", "restricted")}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        default_deny_ingress(f"{name}-default-deny-ingress", args.namespace, labels, in_ns)
        for suffix, pods, port, sources in _PORTS:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{suffix}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=suffix, namespace=args.namespace, labels=labels),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pods),
                    policy_types=["Ingress"],
                    ingress=[
                        k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                            from_=[
                                k8s.networking.v1.NetworkPolicyPeerArgs(
                                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=sources)
                                )
                            ]
                            if sources
                            else [
                                k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c))
                                for c in args.api_server_cidrs
                            ],
                            ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)],
                        )
                    ],
                ),
                opts=in_ns,
            )
        self.release = pinned_release(
            f"{name}-release",
            release_name=RELEASE,
            source=args.chart,
            namespace=args.namespace,
            values=chart_values(args),
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, *args.release_depends_on]),
        )
        self.register_outputs({"namespace": args.namespace, "release": self.release.name})
