"""Rebuild Kubernetes manifests from what a Pulumi program registered (stdlib only).

Pulumi's Kubernetes resources are registered with a type token (``kubernetes:apps/v1:Deployment``) and
camelCase inputs that are the object's own fields. ``manifest_from_inputs`` turns those back into the manifest
the API server would receive, so it can be schema-validated or checked (e.g. by ``residency.pod_security``)
in the tests and in the policy pack alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Pulumi's secret marker on the wire (pulumi.runtime.rpc._special_sig_key / _special_secret_sig).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

# Pulumi resources of the Kubernetes provider that are not Kubernetes objects.
NOT_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize")
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def is_kubernetes_object(type_token: str) -> bool:
    return type_token.startswith("kubernetes:") and not type_token.startswith(NOT_OBJECTS)


def api_version_and_kind(type_token: str) -> tuple[str, str]:
    """``kubernetes:apps/v1:Deployment`` -> ``("apps/v1", "Deployment")``; the core group has no prefix."""
    _, group_version, kind = type_token.split(":")
    group, _, version = group_version.rpartition("/")
    return (version if group == "core" else f"{group}/{version}"), kind


def plain(value: Any) -> Any:
    """Unwrap Pulumi secrets and turn integral floats (protobuf numbers) back into ints."""
    if isinstance(value, Mapping):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return plain(value.get("value"))
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def manifest_from_inputs(type_token: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manifest of a registered Kubernetes object, or None for Pulumi-only types (Helm releases, ...)."""
    if not is_kubernetes_object(type_token):
        return None
    api_version, kind = api_version_and_kind(type_token)
    body = {k: v for k, v in plain(inputs).items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": api_version, "kind": kind, **body}
