"""Synthetic probes: a blackbox exporter in the metrics namespace and one Probe per model, so each model's latency
is measured from inside the cluster even when no user sends a request.

Each model gets its own blackbox HTTP module: a POST of a one-token completion (``max_tokens: 1``, a fixed
non-personal prompt) to the model's in-cluster ``/v1/completions``; a non-streamed answer with one token returns
after prefill and one decode step, so ``probe_duration_seconds`` is the time to first token plus the in-cluster hop,
and ``probe_success`` says whether the model answered 200. The Prometheus Operator turns each Probe into a scrape
of ``<prober>/probe?module=...&target=...`` (monitoring.coreos.com/v1 Probe). The model pods admit the prober's
pods on their API port by a NetworkPolicy in the model's namespace (policies add up; the model's own stay).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm_chart import HelmChart, pinned_release
from components.model_scaling import Scraper, scrape_network_policy_spec

TYPE_TOKEN = "hybrid-llm-infra:metrics:SyntheticProbes"
RELEASE = "synthetic-probes"
PROBER_PORT = 9115
POD_LABELS = {"hybrid-llm-infra/role": "synthetic-probe"}
PROMPT = "Reply with one word: ok"


@dataclass(frozen=True)
class ProbeTarget:
    name: str
    """The InferenceService name (its Service and pods' instance label)."""
    namespace: str
    served_name: str
    port: int


@dataclass(frozen=True)
class SyntheticProbesArgs:
    chart: HelmChart
    namespace: str
    """The metrics namespace (Prometheus reaches its own namespace's pods)."""
    targets: Sequence[ProbeTarget]
    interval: str = "60s"
    timeout_seconds: int = 30
    node_selector: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()
    """kube-prometheus-stack (the Probe CRD)."""


def module_name(target: ProbeTarget) -> str:
    return f"vllm-{target.name}"


def chart_values(args: SyntheticProbesArgs) -> dict[str, Any]:
    modules = {
        module_name(t): {
            "prober": "http",
            "timeout": f"{args.timeout_seconds}s",
            "http": {
                "method": "POST",
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"model": t.served_name, "prompt": PROMPT, "max_tokens": 1}),
                "valid_status_codes": [200],
                "preferred_ip_protocol": "ip4",
            },
        }
        for t in args.targets
    }
    return {
        "fullnameOverride": RELEASE,
        "nodeSelector": dict(args.node_selector),
        "pod": {"labels": {**args.labels, **POD_LABELS}},
        "commonLabels": dict(args.labels),
        "config": {"modules": modules},
    }


def probe_spec(args: SyntheticProbesArgs, target: ProbeTarget) -> dict[str, Any]:
    url = f"http://{target.name}.{target.namespace}.svc.cluster.local:{target.port}/v1/completions"
    return {
        "jobName": f"synthetic-{target.name}",
        "interval": args.interval,
        # Prometheus stops waiting at scrapeTimeout: give the module its whole timeout plus a second.
        "scrapeTimeout": f"{args.timeout_seconds + 1}s",
        "module": module_name(target),
        "prober": {"url": f"{RELEASE}.{args.namespace}.svc:{PROBER_PORT}", "path": "/probe"},
        "targets": {"staticConfig": {"static": [url], "labels": {"model_name": target.served_name}}},
    }


class SyntheticProbes(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    probes: list[k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: SyntheticProbesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.release = pinned_release(
            f"{name}-release",
            release_name=RELEASE,
            source=args.chart,
            namespace=args.namespace,
            values=chart_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        prober = Scraper(namespace=args.namespace, pod_labels=POD_LABELS, query_url="")
        self.probes = []
        for target in args.targets:
            selector = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": target.name}
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{target.name}-netpol",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{target.name}-synthetic-probe", namespace=target.namespace, labels=dict(args.labels)
                ),
                spec=scrape_network_policy_spec(selector, target.port, prober),
                opts=child,
            )
            self.probes.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-{target.name}-probe",
                    api_version="monitoring.coreos.com/v1",
                    kind="Probe",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=f"synthetic-{target.name}", namespace=args.namespace, labels=dict(args.labels)
                    ),
                    spec=probe_spec(args, target),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release, *args.depends_on]),
                )
            )
        self.register_outputs({})
