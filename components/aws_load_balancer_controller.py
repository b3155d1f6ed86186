"""The AWS Load Balancer Controller: it turns a Service of ``loadBalancerClass: service.k8s.aws/nlb`` into an NLB.

Children: an IAM role trusted by EKS Pod Identity for this cluster only, holding the controller's documented policy
(vendored unchanged from kubernetes-sigs/aws-load-balancer-controller, ``docs/install/iam_policy.json`` at the tag of
the pinned controller), the Pod Identity association of the controller's service account, and the Helm release.
The chart gets ``clusterName``, ``region`` and ``vpcId``: the nodes' IMDS hop limit is 1, so a pod cannot ask IMDS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws
from pulumi_aws import eks, iam
from pulumi_kubernetes.helm import v3 as helm_v3

from components.eks_iam import pod_identity_trust
from components.helm_chart import HelmChart, pinned_release

TYPE_TOKEN = "hybrid-llm-infra:endpoints:AwsLoadBalancerController"
_SDK = (aws.get_caller_identity, eks.PodIdentityAssociation, iam.Role, iam.RolePolicy, helm_v3.Release)

CONTROLLER_VERSION = "v2.17.1"
"""appVersion of chart 1.17.1; the vendored policy is this tag's."""
IAM_POLICY_FILE = (
    Path(__file__).parent / "vendor" / f"aws_load_balancer_controller_iam_policy_{CONTROLLER_VERSION}.json"
)
IAM_POLICY_SOURCE = (
    "https://github.com/kubernetes-sigs/aws-load-balancer-controller/blob/"
    f"{CONTROLLER_VERSION}/docs/install/iam_policy.json"
)
IAM_POLICY_SHA256 = "16f232c9d9f79366fe949c4550ad517a202380058a9e48d45a4e215044a20a6a"
"""sha256 of the file as fetched from that tag (a test checks the vendored copy is unchanged)."""
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
NLB_CLASS = "service.k8s.aws/nlb"
"""The loadBalancerClass the controller serves (chart value ``loadBalancerClass``' default)."""


def controller_iam_policy() -> dict[str, object]:
    """The controller's documented IAM policy, exactly as vendored."""
    data = IAM_POLICY_FILE.read_bytes()
    if hashlib.sha256(data).hexdigest() != IAM_POLICY_SHA256:
        raise RuntimeError(f"{IAM_POLICY_FILE} differs from {IAM_POLICY_SOURCE}; re-vendor it unchanged")
    policy: dict[str, object] = json.loads(data)
    return policy


@dataclass(frozen=True)
class AwsLoadBalancerControllerArgs:
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    account_id: str
    region: str
    vpc_id: pulumi.Input[str]
    chart: HelmChart
    kubernetes_provider: pulumi.ProviderResource
    tags: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    """Residency labels for every object of the chart and its pods (it lives in kube-system, which is not ours)."""
    association_depends_on: Sequence[pulumi.Resource] = ()
    """The Pod Identity agent add-on (an association is useless before it runs)."""
    release_depends_on: Sequence[pulumi.Resource] = ()
    """Nodes the controller's pods can run on."""


class AwsLoadBalancerController(pulumi.ComponentResource):
    role: iam.Role
    association: eks.PodIdentityAssociation
    release: helm_v3.Release

    def __init__(
        self, name: str, args: AwsLoadBalancerControllerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        trust = pulumi.Output.from_input(args.cluster_arn).apply(
            lambda arn: json.dumps(pod_identity_trust(args.account_id, arn))
        )
        tags = {**args.tags, "Name": f"{name}-aws-load-balancer-controller"}
        self.role = iam.Role(
            f"{name}-role", assume_role_policy=trust, tags=tags, opts=pulumi.ResourceOptions(parent=self)
        )
        # Inline (10,240 characters per role) rather than managed (6,144): the policy is about 5,200 compacted.
        policy = iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=json.dumps(controller_iam_policy(), separators=(",", ":")),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.association = eks.PodIdentityAssociation(
            f"{name}-pod-identity",
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=self.role.arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *args.association_depends_on]),
        )
        self.release = pinned_release(
            f"{name}-release",
            release_name="aws-load-balancer-controller",
            source=args.chart,
            namespace=NAMESPACE,
            values={
                "clusterName": args.cluster_name,
                "region": args.region,
                "vpcId": args.vpc_id,
                "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
                "additionalLabels": dict(args.labels),
                "podLabels": dict(args.labels),
                # Off: the webhook would claim every LoadBalancer Service without a class; ours name the class.
                "enableServiceMutatorWebhook": False,
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.kubernetes_provider,
                # Its pods need credentials at start: the association first.
                depends_on=[self.association, *args.release_depends_on],
            ),
        )
        self.register_outputs({"roleArn": self.role.arn, "release": self.release.name})
