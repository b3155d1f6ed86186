"""What ties one vLLM model to the cluster's metrics and KEDA: the queue query, the ScaledObject, the PodMonitor
and the NetworkPolicy that admits the scraper. Used by InferenceService (its children); pure builders here.

vLLM serves Prometheus metrics at ``/metrics`` on its API port (vllm/entrypoints/openai/api_server.py mounts the
prometheus_client ASGI app on the same server), so "the metrics port" is the container port named ``http``.
The queue gauge is ``vllm:num_requests_waiting`` with labels ``model_name`` (the ``--served-model-name``) and
``engine`` (vllm/v1/metrics/loggers.py, PrometheusStatLogger, vLLM 0.11).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi_kubernetes as k8s

QUEUE_METRIC = "vllm:num_requests_waiting"
MAX_STABILIZATION_WINDOW_SECONDS = 3600
"""Kubernetes refuses an HPA scale-down stabilization window above this (autoscaling validation)."""
SCALED_OBJECT_API = "keda.sh/v1alpha1"
POD_MONITOR_API = "monitoring.coreos.com/v1"
# Resolved at import, not first use (infra check forks a worker per stack after importing the program).
_SDK = (k8s.apiextensions.CustomResource,)
FALLBACK_FAILURE_THRESHOLD = 3
"""Failed queue reads in a row before KEDA holds the fallback replica count."""
SCALE_DOWN_PODS_PER_PERIOD = (1, 300)
"""At most one replica removed per 5 minutes (the HPA behaviour the platform had): capacity that took minutes to
load is not thrown away on a short lull."""


@dataclass(frozen=True)
class Scraper:
    """Who scrapes the pods and where KEDA reads: the cluster's Prometheus."""

    namespace: str
    pod_labels: Mapping[str, str]
    """Labels of the Prometheus server pods (the NetworkPolicy admits exactly these)."""
    query_url: str
    """In-cluster URL of Prometheus' HTTP API (the KEDA trigger's serverAddress)."""


@dataclass(frozen=True)
class QueueScaling:
    """One model's ScaledObject settings (validated in stackconfig.inference.Autoscaling)."""

    min_replicas: int
    max_replicas: int
    threshold: float
    fallback_replicas: int
    polling_interval_seconds: int
    cooldown_seconds: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 1 <= min_replicas <= max_replicas (scale to zero has no activation signal)")
        if self.threshold <= 0:
            raise ValueError("threshold must be > 0")
        if not self.min_replicas <= self.fallback_replicas <= self.max_replicas:
            raise ValueError("fallback_replicas must lie in min_replicas..max_replicas")
        if not 0 < self.cooldown_seconds <= MAX_STABILIZATION_WINDOW_SECONDS:
            raise ValueError(f"cooldown_seconds must lie in 1..{MAX_STABILIZATION_WINDOW_SECONDS} (HPA limit)")


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal (backslash and double quote escaped, as in Go's strconv.Quote)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def queue_query(served_model_name: str) -> str:
    """Waiting requests of one model across all its replicas (and engines): the value KEDA compares with
    ``threshold`` x replicas (metricType AverageValue)."""
    return f"sum({QUEUE_METRIC}{{model_name={promql_string(served_model_name)}}})"


def _threshold(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def scaled_object_spec(deployment: str, served_model_name: str, scaling: QueueScaling, scraper: Scraper) -> dict:
    """``spec`` of the model's ScaledObject (KEDA docs, "ScaledObject specification" and "Prometheus" scaler)."""
    pods, period = SCALE_DOWN_PODS_PER_PERIOD
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "pollingInterval": scaling.polling_interval_seconds,
        # cooldownPeriod only governs the last step to zero; the scale-down stabilization window below is what
        # holds between N and 1 replicas. Both are at least the model's start-up time.
        "cooldownPeriod": scaling.cooldown_seconds,
        "minReplicaCount": scaling.min_replicas,
        "maxReplicaCount": scaling.max_replicas,
        "fallback": {"failureThreshold": FALLBACK_FAILURE_THRESHOLD, "replicas": scaling.fallback_replicas},
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    "scaleDown": {
                        "stabilizationWindowSeconds": scaling.cooldown_seconds,
                        "policies": [{"type": "Pods", "value": pods, "periodSeconds": period}],
                    }
                }
            }
        },
        "triggers": [
            {
                "type": "prometheus",
                "name": "vllm-queue",
                # Fallback works only with AverageValue (KEDA docs, "fallback"); the query sums all replicas.
                "metricType": "AverageValue",
                "metadata": {
                    "serverAddress": scraper.query_url,
                    "query": queue_query(served_model_name),
                    "threshold": _threshold(scaling.threshold),
                    # An empty result (wrong model_name, pods not scraped) is an error, so the fallback applies,
                    # instead of KEDA's default of reading it as 0 and quietly holding minReplicas.
                    "ignoreNullValues": "false",
                    "unsafeSsl": "false",
                },
            }
        ],
    }


def pod_monitor_spec(selector: Mapping[str, str], interval: str) -> dict:
    """Scrape the pods' ``http`` port at /metrics (monitoring.coreos.com/v1 PodMonitor)."""
    return {
        "selector": {"matchLabels": dict(selector)},
        "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": interval, "scheme": "http"}],
    }


def scrape_network_policy_spec(
    selector: Mapping[str, str], port: int, scraper: Scraper
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Ingress from the Prometheus pods of the scraper's namespace to ``port`` only (vLLM serves /metrics on its
    API port, so the scraper could also call the API: NetworkPolicy cannot tell paths apart)."""
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        policy_types=["Ingress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                            match_labels={"kubernetes.io/metadata.name": scraper.namespace}
                        ),
                        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(scraper.pod_labels)),
                    )
                ],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)],
            )
        ],
    )
