"""Metrics and autoscaling: a ScaledObject's maximum fits its namespace's GPU quota (``scaledobject-gpu-quota``);
Prometheus writes remotely only inside the stack's jurisdiction (``metrics-remote-write-in-jurisdiction``).

GPU quota: the API server refuses pods beyond ``requests.nvidia.com/gpu`` of the namespace's ResourceQuota, so a
ScaledObject whose ``maxReplicaCount`` x GPUs per replica (the target Deployment's GPU requests; KEDA's default
maximum is 100) does not fit leaves replicas the autoscaler asked for unschedulable, silently. Every ScaledObject
of a namespace adds to the same quota. A namespace without a GPU quota is not judged here (on EKS, Karpenter's
NodePool limits bound GPUs).

Remote write: the receiver's jurisdiction comes from the AWS region in its host name (``aps-workspaces.<region>.
amazonaws.com``) or from the pack config ``remoteWriteJurisdictions`` (host -> jurisdiction; ``infra check`` fills
it from ``metrics.remoteWrite``). A receiver of unknown or other jurisdiction is a violation: metrics carry model
names, namespaces and pod labels of the jurisdiction's workloads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from policies.rules.base import Config, View, as_list, as_mapping, resource_policy, stack_policy
from residency import JURISDICTIONS, jurisdiction_for_region

GPU = "nvidia.com/gpu"
QUOTA_KEY = f"requests.{GPU}"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
KEDA_DEFAULT_MAX = 100
"""maxReplicaCount when unset (KEDA docs, "ScaledObject specification")."""
_AWS_REGION_IN_HOST = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com$")


def _cluster(view: View) -> str:
    return view.provider_type + str(view.provider_props.get("kubeconfig") or view.provider_props.get("context") or "")


def _namespace(view: View) -> str:
    return str(view.metadata().get("namespace") or "default")


def _quantity(value: Any) -> int | None:
    """An integral count (numbers arrive as floats over the wire); None for unknowns and fractional quantities."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value))
    except ValueError:
        return None


def _gpus_per_replica(deployment: View) -> int | None:
    pod = as_mapping(as_mapping(as_mapping(deployment.props.get("spec")).get("template")).get("spec"))
    total = 0
    for container in as_list(pod.get("containers")):
        resources = as_mapping(as_mapping(container).get("resources"))
        value = as_mapping(resources.get("requests")).get(GPU, as_mapping(resources.get("limits")).get(GPU))
        if value is None:
            continue
        count = _quantity(value)
        if count is None:
            return None  # unknown at preview
        total += count
    return total


@stack_policy("scaledobject-gpu-quota")
def scaled_object_gpu_quota(views: list[View], config: Config) -> list[tuple[View | None, str]]:
    quotas: dict[tuple[str, str], int] = {}
    deployments: dict[tuple[str, str, str], View] = {}
    for view in views:
        if view.type == "kubernetes:core/v1:ResourceQuota":
            hard = as_mapping(as_mapping(view.props.get("spec")).get("hard"))
            gpus = _quantity(hard.get(QUOTA_KEY)) if QUOTA_KEY in hard else None
            if gpus is not None:
                key = (_cluster(view), _namespace(view))
                quotas[key] = min(gpus, quotas.get(key, gpus))
        elif view.type == "kubernetes:apps/v1:Deployment":
            deployments[(_cluster(view), _namespace(view), str(view.metadata().get("name") or view.name))] = view
    used: dict[tuple[str, str], int] = {}
    out: list[tuple[View | None, str]] = []
    for view in sorted((v for v in views if v.type == SCALED_OBJECT), key=lambda v: v.urn):
        spec = as_mapping(view.props.get("spec"))
        target = as_mapping(spec.get("scaleTargetRef"))
        if target.get("kind", "Deployment") != "Deployment":
            continue
        namespace = (_cluster(view), _namespace(view))
        deployment = deployments.get((*namespace, str(target.get("name"))))
        if namespace not in quotas or deployment is None:
            continue
        gpus = _gpus_per_replica(deployment)
        most = _quantity(spec.get("maxReplicaCount", KEDA_DEFAULT_MAX))
        if not gpus or most is None:
            continue
        used[namespace] = used.get(namespace, 0) + most * gpus
        if used[namespace] > quotas[namespace]:
            out.append(
                (
                    view,
                    f"{view.name}: maxReplicaCount {most} x {gpus} GPU(s) per replica brings namespace "
                    f"{namespace[1]} to {used[namespace]} GPUs at maximum scale, over its ResourceQuota "
                    f"{QUOTA_KEY}={quotas[namespace]}: the replicas beyond it can never start",
                )
            )
    return out


def _remote_write_urls(view: View) -> list[str]:
    if view.type == "kubernetes:helm.sh/v3:Release":
        spec = as_mapping(as_mapping(as_mapping(view.props.get("values")).get("prometheus")).get("prometheusSpec"))
        entries = as_list(spec.get("remoteWrite"))
    elif view.type.startswith("kubernetes:monitoring.coreos.com/") and view.type.endswith(
        (":Prometheus", ":PrometheusAgent")
    ):
        entries = as_list(as_mapping(view.props.get("spec")).get("remoteWrite"))
    else:
        return []
    return [str(as_mapping(entry).get("url")) for entry in entries]


def receiver_jurisdiction(url: str, declared: Mapping[str, Any]) -> str | None:
    host = urlsplit(url).hostname or ""
    region = _AWS_REGION_IN_HOST.search(host)
    if region:
        jurisdiction = jurisdiction_for_region(region[1])
        return jurisdiction.id if jurisdiction else None
    value = declared.get(host)
    return str(value) if value in JURISDICTIONS else None


@resource_policy("metrics-remote-write-in-jurisdiction", types=("kubernetes:",))
def remote_write_in_jurisdiction(view: View, config: Config) -> list[str]:
    urls = _remote_write_urls(view)
    if not urls:
        return []
    _, here = view.location(config)
    stack = config.stack_jurisdiction or here
    declared = as_mapping(config.get("remoteWriteJurisdictions", {}))
    problems = []
    for url in urls:
        target = receiver_jurisdiction(url, declared)
        if stack is None:
            problems.append(f"{view.name}: remote write to {url} from a place of unknown jurisdiction")
        elif target is None:
            problems.append(
                f"{view.name}: remote write to {url}, whose jurisdiction is unknown (not an AWS regional host, not "
                f"declared in metrics.remoteWrite); samples must stay in {stack.id}"
            )
        elif target != stack.id:
            problems.append(f"{view.name}: remote write to {url} sends samples to {target}, outside {stack.id}")
    return problems
