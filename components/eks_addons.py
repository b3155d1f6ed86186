"""The EKS-managed add-ons of a cluster: VPC CNI (with its network-policy agent), kube-proxy, CoreDNS and the
EKS Pod Identity agent, each at a pinned version.

A new cluster runs self-managed copies of vpc-cni, kube-proxy and CoreDNS that EKS bootstrapped; taking them
over as managed add-ons (``OVERWRITE`` on create) is what lets us configure and pin them. The VPC CNI's
network-policy agent is off by default, so without ``enableNetworkPolicy`` every NetworkPolicy the stacks
declare is accepted by the API server and enforced by nothing (EKS user guide, "Restrict Pod network traffic
with Kubernetes network policies": ``"enableNetworkPolicy": "true"`` in the add-on configuration).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
from pulumi_aws import eks

ADDONS = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent")
BEFORE_NODES = ("vpc-cni", "eks-pod-identity-agent")
"""Configured before any node joins (as terraform-aws-modules/eks ``before_compute``): nodes come up with the
network-policy agent, and no pod starts before the Pod Identity agent serves credentials."""
AFTER_NODES = ("kube-proxy", "coredns")
"""CoreDNS needs schedulable nodes to become ACTIVE (with none it stays DEGRADED and the create times out)."""
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}


def missing_versions(versions: Mapping[str, str]) -> list[str]:
    return [name for name in ADDONS if not versions.get(name)]


def managed_addons(
    prefix: str,
    names: Sequence[str],
    cluster_name: pulumi.Input[str],
    versions: Mapping[str, str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> dict[str, eks.Addon]:
    """One ``eks.Addon`` per name, pinned, taking over the bootstrapped self-managed copy."""
    return {
        name: eks.Addon(
            f"{prefix}-{name}",
            cluster_name=cluster_name,
            addon_name=name,
            addon_version=versions[name],
            configuration_values=json.dumps(VPC_CNI_CONFIGURATION) if name == "vpc-cni" else None,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags={**tags, "Name": f"{prefix}-{name}"},
            opts=opts,
        )
        for name in names
    }
