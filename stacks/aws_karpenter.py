"""GPU capacity of an AWS stack: Karpenter's controller and the GPU NodePools, from validated config.

The checks here run before any resource is registered (``check_gpu_capacity``): a model must fit one node of a
pool, and a pool must never consolidate a node sooner than the slowest model can load on it.
"""

from __future__ import annotations

import pulumi

from components.aws_gpu_cluster import AwsGpuInferenceCluster
from components.helm_chart import HelmChart
from components.karpenter import KarpenterController, KarpenterControllerArgs
from components.karpenter_nodepools import GpuNodePoolArgs, GpuNodePools, GpuNodePoolsArgs
from residency import jurisdiction_for_region
from stackconfig import PROJECT, AwsStackConfig, ConfigError, Problem
from stackconfig.aws_cluster import GpuNodePoolConfig
from stacks.gpu_placement import PoolPlacement


def pricing_api_region(region: str) -> str:
    """Where Karpenter asks the AWS Price List API from ``region`` (pkg/providers/pricing/pricing.go, NewAPI)."""
    for prefix, pricing_region in (("ap-", "ap-south-1"), ("cn-", "cn-northwest-1"), ("eu-", "eu-central-1")):
        if region.startswith(prefix):
            return pricing_region
    return "us-east-1"


def pricing_stays_in_jurisdiction(region: str) -> bool:
    """Whether Karpenter's price look-ups stay in the jurisdiction of ``region`` (no call leaves it otherwise)."""
    home = jurisdiction_for_region(region)
    return home is not None and home == jurisdiction_for_region(pricing_api_region(region))


MIN_CONSOLIDATE_AFTER_SECONDS = 300
"""Without models, a pool still waits five minutes before removing an empty node (a new pod may come)."""


def consolidate_after(pool: GpuNodePoolConfig, config: AwsStackConfig) -> int:
    """The pool's consolidateAfter: configured, or the longest start-up time of the stack's models."""
    if pool.consolidate_after_seconds is not None:
        return pool.consolidate_after_seconds
    return max([MIN_CONSOLIDATE_AFTER_SECONDS, *(m.startup_timeout_seconds for m in config.inference)])


def check_gpu_capacity(config: AwsStackConfig) -> None:
    """Every model fits one node of some pool; no pool consolidates sooner than the slowest model loads."""
    problems: list[Problem] = []
    most = max(p.most_gpus_per_node for p in config.gpu_node_pools)
    for index, model in enumerate(config.inference):
        if model.gpus > most:
            problems.append(
                Problem(
                    f"{PROJECT}:inference[{index}].gpus",
                    f"{model.gpus} GPUs per replica, but the largest GPU node of any pool has {most} GPU(s)",
                )
            )
    slowest = max((m.startup_timeout_seconds for m in config.inference), default=0)
    for index, pool in enumerate(config.gpu_node_pools):
        if pool.consolidate_after_seconds is not None and pool.consolidate_after_seconds < slowest:
            problems.append(
                Problem(
                    f"{PROJECT}:gpuNodePools[{index}].consolidateAfterSeconds",
                    f"{pool.consolidate_after_seconds}s is shorter than the slowest model's startupTimeoutSeconds "
                    f"({slowest}): Karpenter could remove a node while a model loads; allowed: >= {slowest}",
                )
            )
    if problems:
        raise ConfigError(problems)


def build_gpu_capacity(
    config: AwsStackConfig,
    cluster: AwsGpuInferenceCluster,
    cluster_name: str,
    placement: dict[str, PoolPlacement],
    kms_key_arn: pulumi.Input[str],
    tags: dict[str, str],
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> GpuNodePools:
    karpenter = config.eks.karpenter
    controller = KarpenterController(
        f"{config.deployment.site}-karpenter",
        KarpenterControllerArgs(
            cluster_name=cluster_name,
            cluster_arn=cluster.cluster.arn,
            cluster_endpoint=cluster.endpoint,
            region=config.aws_region,
            account_id=cluster.account_id,
            partition=cluster.partition,
            kms_key_arn=kms_key_arn,
            chart=HelmChart(karpenter.chart.repository, karpenter.chart.chart, karpenter.chart.version),
            kubernetes_provider=cluster.kubernetes_provider,
            system_nodes=[cluster.system_node_group, cluster.addons["eks-pod-identity-agent"]],
            # Public price lists only, but the controller of a UAE stack would otherwise call us-east-1.
            isolated_vpc=not pricing_stays_in_jurisdiction(config.aws_region),
            tags=tags,
            labels=labels,
        ),
        opts=opts,
    )
    return GpuNodePools(
        f"{config.deployment.site}-gpu-pools",
        GpuNodePoolsArgs(
            cluster_name=cluster_name,
            node_role_name=controller.node_role.name,
            ami_alias=karpenter.ami_alias,
            kms_key_arn=kms_key_arn,
            pools=[
                GpuNodePoolArgs(
                    name=pool.name,
                    instance_types=placement[pool.name].instance_types,
                    zones=placement[pool.name].zones,
                    gpu_limit=pool.gpu_limit,
                    capacity_types=pool.capacity_types,
                    disk_size_gib=pool.disk_size_gib,
                    consolidation_policy=pool.consolidation_policy,
                    consolidate_after_seconds=consolidate_after(pool, config),
                    disruption_budget_nodes=pool.disruption_budget_nodes,
                    expire_after=pool.expire_after,
                )
                for pool in config.gpu_node_pools
            ],
            kubernetes_provider=cluster.kubernetes_provider,
            # The chart installs the CRDs; the node role must be able to join (access entry) before a node launches.
            controller=[controller.release, controller.node_access_entry, cluster.node_security_group_tag],
            tags=tags,
            labels=labels,
        ),
        opts=opts,
    )
