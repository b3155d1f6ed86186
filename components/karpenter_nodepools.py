"""GPU NodePools and their EC2NodeClasses: the GPU capacity Karpenter launches for pending GPU pods.

One ``karpenter.k8s.aws/v1`` EC2NodeClass and one ``karpenter.sh/v1`` NodePool per pool (schemas in
``schemas/crds/``). Nodes carry the ``nvidia.com/gpu=true:NoSchedule`` taint and the ``nvidia.com/gpu.present=true``
label the inference pods and the device plugin select; a pool launches only the configured NVIDIA x86_64 types, only
in the zones the stack placed it in, and never beyond its ``nvidia.com/gpu`` limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from components.aws_gpu_cluster import DISCOVERY_TAG, GPU_NODE_LABEL, GPU_TAINT

TYPE_TOKEN = "hybrid-llm-infra:compute:GpuNodePools"
_SDK = (CustomResource,)
ROOT_DEVICE = "/dev/xvda"
"""The root device of the EKS AL2023 AMIs (Karpenter's default block device mapping for AL2023)."""
CAPACITY_TYPES = ("on-demand", "spot")


@dataclass(frozen=True)
class GpuNodePoolArgs:
    """One GPU NodePool, already placed (zones and types checked against the region's offerings)."""

    name: str
    instance_types: Sequence[str]
    zones: Sequence[str]
    gpu_limit: int
    capacity_types: Sequence[str] = ("on-demand",)
    disk_size_gib: int = 200
    consolidation_policy: str = "WhenEmpty"
    consolidate_after_seconds: int = 900
    disruption_budget_nodes: str = "1"
    expire_after: str = "Never"


@dataclass(frozen=True)
class GpuNodePoolsArgs:
    """Inputs of GpuNodePools."""

    cluster_name: str
    """The value of the discovery tag on the private subnets and the cluster security group."""
    node_role_name: pulumi.Input[str]
    ami_alias: str
    kms_key_arn: pulumi.Input[str]
    pools: Sequence[GpuNodePoolArgs]
    kubernetes_provider: k8s.Provider
    controller: Sequence[pulumi.Resource]
    """The Karpenter release: its chart installs the CRDs these resources need."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Residency tags for the instances, volumes and network interfaces Karpenter launches."""
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.pools:
            raise ValueError("at least one GPU node pool: without one the stack has no GPU capacity")
        for pool in self.pools:
            if not pool.zones or not pool.instance_types:
                raise ValueError(f"GPU node pool {pool.name!r} has no zone or no instance type")
            if pool.gpu_limit < 1:
                raise ValueError(f"GPU node pool {pool.name!r}: gpu_limit must be at least 1")
            if not set(pool.capacity_types) <= set(CAPACITY_TYPES) or not pool.capacity_types:
                raise ValueError(f"GPU node pool {pool.name!r}: capacity types are {', '.join(CAPACITY_TYPES)}")


def ec2_node_class_spec(
    args: GpuNodePoolsArgs, pool: GpuNodePoolArgs, role: pulumi.Input[str], key_arn: pulumi.Input[str]
) -> dict[str, object]:
    """The EC2NodeClass spec; ``role`` and ``key_arn`` may be outputs (unknown in a preview, the rest stays known)."""
    selector = [{"tags": {DISCOVERY_TAG: args.cluster_name}}]
    return {
        "amiSelectorTerms": [{"alias": args.ami_alias}],
        "role": role,
        "subnetSelectorTerms": selector,
        "securityGroupSelectorTerms": selector,
        # IMDSv2 only, one hop: a pod cannot reach the node role's credentials (set, not left to defaults).
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        },
        "blockDeviceMappings": [
            {
                "deviceName": ROOT_DEVICE,
                "rootVolume": True,
                "ebs": {
                    "volumeSize": f"{pool.disk_size_gib}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "kmsKeyID": key_arn,
                    "deleteOnTermination": True,
                },
            }
        ],
        # Karpenter puts these on the instances, volumes and network interfaces it launches (no provider default
        # tags reach them); it names the instances itself (Name = the node's name).
        "tags": dict(args.tags),
    }


def node_pool_spec(args: GpuNodePoolsArgs, pool: GpuNodePoolArgs, node_class: str) -> dict[str, object]:
    return {
        "template": {
            "metadata": {
                "labels": {
                    GPU_NODE_LABEL[0]: GPU_NODE_LABEL[1],
                    "hybrid-llm-infra/node-pool": f"gpu-{pool.name}",
                    "hybrid-llm-infra/accelerator": "nvidia",
                }
            },
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class},
                "taints": [{"key": GPU_TAINT[0], "value": GPU_TAINT[1], "effect": "NoSchedule"}],
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(pool.capacity_types)},
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(pool.zones)},
                ],
                "expireAfter": pool.expire_after,
            },
        },
        "limits": {"nvidia.com/gpu": str(pool.gpu_limit)},
        "disruption": {
            "consolidationPolicy": pool.consolidation_policy,
            # A node that got a pod within this window is left alone: no model is moved while it loads.
            "consolidateAfter": f"{pool.consolidate_after_seconds}s",
            "budgets": [{"nodes": pool.disruption_budget_nodes}],
        },
    }


class GpuNodePools(pulumi.ComponentResource):
    """EC2NodeClass + NodePool per GPU pool."""

    node_classes: dict[str, CustomResource]
    node_pools: dict[str, CustomResource]

    def __init__(self, name: str, args: GpuNodePoolsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.kubernetes_provider, depends_on=list(args.controller)
        )
        self.node_classes, self.node_pools = {}, {}
        for pool in args.pools:
            object_name = f"gpu-{pool.name}"
            spec = ec2_node_class_spec(args, pool, args.node_role_name, args.kms_key_arn)
            node_class = CustomResource(
                f"{name}-{pool.name}-nodeclass",
                api_version="karpenter.k8s.aws/v1",
                kind="EC2NodeClass",
                metadata={"name": object_name, "labels": dict(args.labels)},
                spec=spec,
                opts=k8s_opts,
            )
            self.node_classes[pool.name] = node_class
            self.node_pools[pool.name] = CustomResource(
                f"{name}-{pool.name}-nodepool",
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata={"name": object_name, "labels": dict(args.labels)},
                spec=node_pool_spec(args, pool, object_name),
                opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[node_class])),
            )
        self.register_outputs({"nodePools": {pool.name: f"gpu-{pool.name}" for pool in args.pools}})
