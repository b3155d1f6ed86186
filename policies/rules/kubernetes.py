"""Kubernetes: inference pods (Pod Security restricted, GPU limits, allowed registries); default-deny namespaces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.rules.base import Config, View, as_list, as_mapping, resource_policy, stack_policy
from residency.kubernetes_manifests import manifest_from_inputs
from residency.pod_security import POD_TEMPLATE_KINDS, hardening_violations, pod_spec_of, restricted_violations

INFERENCE_LABEL = ("app.kubernetes.io/component", "inference")
GPU = "nvidia.com/gpu"
_WORKLOAD_KINDS = tuple(f":{kind}" for kind in POD_TEMPLATE_KINDS)


def normalise_image(image: str) -> str:
    """``vllm/vllm-openai:v1`` -> ``docker.io/vllm/vllm-openai:v1``; ``nginx`` -> ``docker.io/library/nginx``."""
    first, _, rest = image.partition("/")
    if not rest:
        return f"docker.io/library/{image}"
    if "." in first or ":" in first or first == "localhost":
        return image
    return f"docker.io/{image}"


def _containers(pod: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [
        (f"{key}[{i}]", as_mapping(c))
        for key in ("initContainers", "containers", "ephemeralContainers")
        for i, c in enumerate(as_list(pod.get(key)))
    ]


def _uses_gpu(pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
    resources = as_mapping(container.get("resources"))
    return bool(GPU in as_mapping(resources.get("requests")) or GPU in as_mapping(resources.get("limits")))


def _pod_is_gpu(pod: Mapping[str, Any]) -> bool:
    selects = any(GPU in str(key) for key in as_mapping(pod.get("nodeSelector")))
    tolerates = any(as_mapping(t).get("key") == GPU for t in as_list(pod.get("tolerations")))
    return selects or tolerates


@resource_policy("k8s-pod-security", types=("kubernetes:",))
def k8s_pod_security(view: View, config: Config) -> list[str]:
    if not view.type.endswith(_WORKLOAD_KINDS):
        return []
    manifest = manifest_from_inputs(view.type, view.props)
    if manifest is None:
        return []
    pod = pod_spec_of(manifest["kind"], manifest)
    if pod is None:
        return []
    problems: list[str] = []
    template_labels = as_mapping(
        as_mapping(as_mapping(as_mapping(manifest.get("spec")).get("template")).get("metadata")).get("labels")
    )
    labels = {**as_mapping(as_mapping(manifest.get("metadata")).get("labels")), **template_labels}
    if labels.get(INFERENCE_LABEL[0]) == INFERENCE_LABEL[1]:
        problems += [f"inference pod: {p}" for p in restricted_violations(pod) + hardening_violations(pod)]
    gpu_pod = _pod_is_gpu(pod)
    for path, container in _containers(pod):
        if _uses_gpu(pod, container) or (gpu_pod and path.startswith("containers")):
            limits = as_mapping(as_mapping(container.get("resources")).get("limits"))
            if GPU not in limits:
                problems.append(f"{path}: GPU container without a {GPU} limit")
            if "memory" not in limits:
                problems.append(f"{path}: GPU container without a memory limit")
    allowed = [str(prefix) for prefix in config.get("allowedRegistries", [])]
    for path, container in _containers(pod):
        image = container.get("image")
        if not isinstance(image, str):
            continue
        full = normalise_image(image)
        if not any(full.startswith(prefix) for prefix in allowed):
            problems.append(f"{path}: image {image} is not from an allowed registry ({', '.join(allowed)})")
    return [f"{view.name}: {p}" for p in problems]


def _is_default_deny(spec: Mapping[str, Any], require_egress: bool) -> bool:
    selector = as_mapping(spec.get("podSelector"))
    if selector.get("matchLabels") or selector.get("matchExpressions"):
        return False
    types = [str(t) for t in as_list(spec.get("policyTypes"))] or ["Ingress"]
    if "Ingress" not in types or as_list(spec.get("ingress")):
        return False
    return not require_egress or ("Egress" in types and not as_list(spec.get("egress")))


@stack_policy("namespace-default-deny")
def namespace_default_deny(views: list[View], config: Config) -> list[tuple[View | None, str]]:
    require_egress = bool(config.get("requireEgressDeny", False))
    covered: set[tuple[str, str]] = set()
    for view in views:
        if view.type.startswith("kubernetes:networking.k8s.io/") and view.type.endswith(":NetworkPolicy"):
            namespace = view.metadata().get("namespace") or "default"
            if _is_default_deny(as_mapping(view.props.get("spec")), require_egress):
                covered.add(
                    (
                        view.provider_type
                        + str(view.provider_props.get("kubeconfig") or view.provider_props.get("context") or ""),
                        str(namespace),
                    )
                )
    out: list[tuple[View | None, str]] = []
    for view in views:
        if view.type != "kubernetes:core/v1:Namespace":
            continue
        name = str(view.metadata().get("name") or view.name)
        cluster = view.provider_type + str(
            view.provider_props.get("kubeconfig") or view.provider_props.get("context") or ""
        )
        if (cluster, name) not in covered:
            kind = "Ingress and Egress" if require_egress else "Ingress"
            out.append(
                (view, f"namespace {name} has no default-deny NetworkPolicy (podSelector {{}}, {kind}, no rules)")
            )
    return out
