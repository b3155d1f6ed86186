"""Karpenter's controller on an EKS cluster: its IAM (EKS Pod Identity), the node role, the interruption queue.

Children: the node role (EKS worker policies, no SSM) with an ``EC2_LINUX`` access entry so the nodes Karpenter
launches can join; the controller role, trusted by EKS Pod Identity for this cluster only, with the policies of
``components/karpenter_iam.py`` (each a managed policy: together they exceed the 10,240 characters IAM allows
inline per role); the SQS interruption queue (SQS-managed SSE, TLS-only) and its EventBridge rules; and the
``karpenter`` Helm release in ``kube-system`` on the system node group. The chart's ``crds/`` installs the
NodePool/EC2NodeClass CRDs on first install (Helm does not upgrade them: a newer CRD needs the
``karpenter-crd`` chart or a manual apply).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_aws import cloudwatch, eks, iam, sqs
from pulumi_kubernetes.helm import v3 as helm_v3

from components.eks_iam import pod_identity_trust, service_trust
from components.helm_chart import HelmChart, pinned_release
from components.karpenter_iam import (
    INTERRUPTION_EVENTS,
    eks_integration_policy,
    iam_integration_policy,
    interruption_policy,
    interruption_queue_policy,
    node_lifecycle_policy,
    resource_discovery_policy,
    volume_key_policy,
)

TYPE_TOKEN = "hybrid-llm-infra:compute:KarpenterController"
# Resolved at import (see components/aws_gpu_cluster.py).
_SDK = (cloudwatch.EventRule, cloudwatch.EventTarget, sqs.Queue, sqs.QueuePolicy, iam.Policy, helm_v3.Release)
NAMESPACE = "kube-system"
"""Karpenter's getting-started guide installs it in kube-system (KARPENTER_NAMESPACE)."""
SERVICE_ACCOUNT = "karpenter"
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy")
SYSTEM_NODE_SELECTOR = {"kubernetes.io/os": "linux", "hybrid-llm-infra/node-pool": "system"}
QUEUE_RETENTION_SECONDS = 300
"""As in Karpenter's template: an interruption message older than five minutes is stale."""


@dataclass(frozen=True)
class KarpenterControllerArgs:
    """Inputs of KarpenterController."""

    cluster_name: str
    """The EKS cluster's name (known before the cluster exists: the IAM conditions and the queue are named by it)."""
    cluster_arn: pulumi.Input[str]
    cluster_endpoint: pulumi.Input[str]
    region: str
    account_id: str
    partition: str
    kms_key_arn: pulumi.Input[str]
    """The stack key: the EC2NodeClass encrypts node volumes with it, so CreateFleet must be allowed to use it."""
    chart: HelmChart
    kubernetes_provider: k8s.Provider
    system_nodes: Sequence[pulumi.Resource]
    """What must run before the controller: the system node group (its only home) and the Pod Identity agent."""
    replicas: int = 2
    isolated_vpc: bool = False
    """Karpenter's ``settings.isolatedVPC``: no calls to AWS endpoints outside the VPC's reach, which turns off its
    on-demand price look-ups (it then uses the price list built into the release)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError("replicas must be at least 1")


class KarpenterController(pulumi.ComponentResource):
    """Karpenter 1.x with cluster-scoped IAM, its nodes' role and access entry, and the interruption queue."""

    node_role: iam.Role
    node_access_entry: eks.AccessEntry
    controller_role: iam.Role
    pod_identity_association: eks.PodIdentityAssociation
    queue: sqs.Queue
    rules: dict[str, cloudwatch.EventRule]
    release: helm_v3.Release

    def __init__(self, name: str, args: KarpenterControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._name, self._args = name, args
        cluster, region, account, partition = args.cluster_name, args.region, args.account_id, args.partition

        self.node_role = iam.Role(
            f"{name}-node-role",
            assume_role_policy=json.dumps(service_trust("ec2.amazonaws.com")),
            tags=self._tags("node-role"),
            opts=self._child(),
        )
        node_attachments = [
            iam.RolePolicyAttachment(
                f"{name}-node-role-{policy.lower().replace('_', '-')}",
                role=self.node_role.name,
                policy_arn=f"arn:{partition}:iam::aws:policy/{policy}",
                opts=self._child(),
            )
            for policy in NODE_POLICIES
        ]
        # Karpenter's nodes are not in a managed node group, so EKS makes no access entry for their role.
        self.node_access_entry = eks.AccessEntry(
            f"{name}-node",
            cluster_name=cluster,
            principal_arn=self.node_role.arn,
            type="EC2_LINUX",
            tags=self._tags("node"),
            opts=self._child(depends_on=node_attachments),
        )

        self.queue = sqs.Queue(
            f"{name}-interruption",
            name=cluster,
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            # SQS-managed SSE, as Karpenter's template: EventBridge cannot send to a queue under the AWS managed key
            # aws/sqs, and a customer key would need events.amazonaws.com in its policy. Messages are EC2/Health
            # event notices about the nodes (instance ids), never inference data.
            sqs_managed_sse_enabled=True,
            tags=self._tags("interruption"),
            opts=self._child(),
        )
        self.rules = {}
        for suffix, (source, detail_type) in INTERRUPTION_EVENTS.items():
            rule = cloudwatch.EventRule(
                f"{name}-{suffix}",
                description=f"{detail_type} for Karpenter of {cluster}",
                event_pattern=json.dumps({"source": [source], "detail-type": [detail_type]}),
                tags=self._tags(suffix),
                opts=self._child(),
            )
            cloudwatch.EventTarget(
                f"{name}-{suffix}",
                rule=rule.name,
                target_id="KarpenterInterruptionQueueTarget",
                arn=self.queue.arn,
                opts=self._child(),
            )
            self.rules[suffix] = rule
        queue_policy = sqs.QueuePolicy(
            f"{name}-interruption",
            queue_url=self.queue.id,
            policy=pulumi.Output.all(self.queue.arn, *(r.arn for r in self.rules.values())).apply(
                lambda arns: json.dumps(interruption_queue_policy(arns[0], list(arns[1:])))
            ),
            opts=self._child(),
        )

        self.controller_role = iam.Role(
            f"{name}-controller",
            assume_role_policy=pulumi.Output.from_input(args.cluster_arn).apply(
                lambda arn: json.dumps(pod_identity_trust(account, arn))
            ),
            tags=self._tags("controller"),
            opts=self._child(),
        )
        documents: dict[str, pulumi.Input[str]] = {
            "node-lifecycle": json.dumps(node_lifecycle_policy(partition, region, cluster)),
            "iam-integration": self.node_role.arn.apply(
                lambda arn: json.dumps(iam_integration_policy(partition, region, account, cluster, arn))
            ),
            "eks-integration": json.dumps(eks_integration_policy(partition, region, account, cluster)),
            "interruption": self.queue.arn.apply(lambda arn: json.dumps(interruption_policy(arn))),
            "resource-discovery": json.dumps(resource_discovery_policy(partition, region, account)),
            "volume-key": pulumi.Output.from_input(args.kms_key_arn).apply(
                lambda arn: json.dumps(volume_key_policy(arn, region))
            ),
        }
        controller_attachments: list[pulumi.Resource] = []
        for suffix, document in documents.items():
            policy = iam.Policy(
                f"{name}-{suffix}",
                description=f"Karpenter controller of {cluster}: {suffix}",
                policy=document,
                tags=self._tags(suffix),
                opts=self._child(),
            )
            controller_attachments.append(
                iam.RolePolicyAttachment(
                    f"{name}-{suffix}", role=self.controller_role.name, policy_arn=policy.arn, opts=self._child()
                )
            )
        self.pod_identity_association = eks.PodIdentityAssociation(
            f"{name}-controller",
            cluster_name=cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=self.controller_role.arn,
            tags=self._tags("controller"),
            opts=self._child(depends_on=[*args.system_nodes, *controller_attachments]),
        )
        self.release = self._release(
            [self.pod_identity_association, self.node_access_entry, queue_policy, *args.system_nodes]
        )
        self.register_outputs(
            {
                "nodeRoleName": self.node_role.name,
                "controllerRoleArn": self.controller_role.arn,
                "interruptionQueue": self.queue.name,
            }
        )

    def _child(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _tags(self, suffix: str) -> dict[str, str]:
        return {**self._args.tags, "Name": f"{self._name}-{suffix}"}

    def _release(self, depends_on: list[pulumi.Resource]) -> helm_v3.Release:
        args = self._args
        # The chart's crds/ (NodePool, NodeClaim, EC2NodeClass, ...) is applied before its templates (Helm's
        # default; it never upgrades CRDs: README, "GPU capacity (Karpenter)").
        return pinned_release(
            f"{self._name}-chart",
            release_name="karpenter",
            source=args.chart,
            namespace=NAMESPACE,
            values={
                "replicas": args.replicas,
                "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
                # Only on the system managed node group: Karpenter must never run on a node it manages. The chart's
                # default affinity (no karpenter.sh/nodepool label, one replica per host) stays.
                "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
                "additionalLabels": dict(args.labels),
                "podLabels": dict(args.labels),
                "controller": {
                    # Karpenter's getting-started guide sets 1 CPU / 1Gi requests and limits for the controller.
                    "resources": {
                        "requests": {"cpu": "1", "memory": "1Gi"},
                        "limits": {"cpu": "1", "memory": "1Gi"},
                    }
                },
                "settings": {
                    "clusterName": args.cluster_name,
                    "clusterEndpoint": args.cluster_endpoint,
                    "interruptionQueue": self.queue.name,
                    "isolatedVPC": args.isolated_vpc,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider, depends_on=depends_on),
        )
