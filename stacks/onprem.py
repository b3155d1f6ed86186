"""The on-prem site of the platform."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.onprem_cluster import OnPremInferenceCluster, OnPremInferenceClusterArgs
from residency import residency_labels
from stackconfig import OnPremStackConfig
from stacks.tags import stack_tags


def build_onprem_stack(config: OnPremStackConfig) -> dict[str, Any]:
    labels = residency_labels(stack_tags(config))
    provider = k8s.Provider("onprem", context=config.kubernetes.context, enable_server_side_apply=True)
    cluster = OnPremInferenceCluster(
        "onprem",
        OnPremInferenceClusterArgs(namespaces=config.kubernetes.namespaces, labels=labels),
        opts=pulumi.ResourceOptions(provider=provider),
    )
    peers = {stack: _peer(stack) for stack in config.peer_stacks}
    return {
        "jurisdiction": config.deployment.jurisdiction,
        "namespaces": list(cluster.namespaces),
        "peerVpcCidrs": {stack: ref.get_output("vpcCidr") for stack, ref in peers.items()},
    }


def _peer(stack: str) -> pulumi.StackReference:
    return pulumi.StackReference(f"{pulumi.get_organization()}/{pulumi.get_project()}/{stack}")
