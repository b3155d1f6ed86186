"""NetworkPolicies every namespace of the platform starts from."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

DEFAULT_DENY_INGRESS = "default-deny-ingress"


def default_deny_ingress(
    resource_name: str, namespace: pulumi.Input[str], labels: Mapping[str, str], opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """Deny all ingress to every pod of ``namespace`` (control ``namespace-default-deny``); workloads open what
    they serve with policies of their own. Egress is left to those policies."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=DEFAULT_DENY_INGRESS, namespace=namespace, labels=dict(labels)),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress"]
        ),
        opts=opts,
    )
