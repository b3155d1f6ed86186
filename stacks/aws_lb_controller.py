"""The AWS Load Balancer Controller of a region's cluster: one per cluster, shared by the internal model NLBs
(stacks/aws_endpoints.py) and the front door's internet-facing NLB (stacks/front_door.py)."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from components.aws_gpu_cluster import AwsGpuInferenceCluster
from components.aws_load_balancer_controller import AwsLoadBalancerController, AwsLoadBalancerControllerArgs
from components.helm_chart import HelmChart
from components.network import RegionalNetwork
from residency import residency_labels
from stackconfig import AwsStackConfig


def load_balancer_controller(
    config: AwsStackConfig,
    cluster: AwsGpuInferenceCluster,
    network: RegionalNetwork,
    account_id: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> AwsLoadBalancerController:
    """The controller (one per cluster; its IAM through EKS Pod Identity, its pods on the system nodes)."""
    chart = config.endpoints.load_balancer_controller
    return AwsLoadBalancerController(
        f"{config.deployment.site}-lbc",
        AwsLoadBalancerControllerArgs(
            cluster_name=cluster.cluster_name,
            cluster_arn=cluster.cluster.arn,
            account_id=account_id,
            region=config.aws_region,
            vpc_id=network.vpc_id,
            chart=HelmChart(chart.repository, chart.chart, chart.version),
            kubernetes_provider=cluster.kubernetes_provider,
            tags=dict(tags),
            labels=residency_labels(dict(tags)),
            association_depends_on=[cluster.addons["eks-pod-identity-agent"]],
            release_depends_on=[cluster.system_node_group],
        ),
        opts=opts,
    )
