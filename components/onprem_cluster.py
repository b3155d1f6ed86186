"""The on-prem GPU cluster, where restricted data is processed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

# Pod Security admission levels by namespace purpose; privileged only where a workload must be.
PSS_RESTRICTED = "restricted"


@dataclass(frozen=True)
class OnPremInferenceClusterArgs:
    """Inputs of OnPremInferenceCluster."""

    namespaces: Sequence[str]
    """Namespaces for inference workloads (Pod Security 'restricted')."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Residency labels carried by every object."""


class OnPremInferenceCluster(pulumi.ComponentResource):
    """Namespaces labelled for residency and Pod Security on the existing on-prem cluster."""

    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(self, name: str, args: OnPremInferenceClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:onprem:OnPremInferenceCluster", name, None, opts)
        self.namespaces = {}
        for namespace in args.namespaces:
            self.namespaces[namespace] = self._namespace(name, namespace, PSS_RESTRICTED, args.labels)
        self.register_outputs({"namespaces": list(self.namespaces)})

    def _namespace(self, name: str, namespace: str, level: str, labels: Mapping[str, str]) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{name}-ns-{namespace}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace,
                labels={
                    **labels,
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/audit": level,
                    "pod-security.kubernetes.io/warn": level,
                },
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
