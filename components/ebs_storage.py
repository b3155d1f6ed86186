"""Encrypted block storage for an EKS cluster: the ``aws-ebs-csi-driver`` EKS add-on (pinned), its IAM role through
EKS Pod Identity, and a gp3 StorageClass whose volumes are encrypted with the stack key.

The role holds the AWS-managed ``AmazonEBSCSIDriverPolicy`` (EKS user guide, "Amazon EBS CSI driver") and, because
the volumes use a customer-managed key, the KMS statements the driver's documentation adds for such a key
(aws-ebs-csi-driver docs/install.md, "Set up driver permissions": grants only for AWS resources, and the data-key
operations on that key). The stack key's policy delegates to IAM (its account-root statement), so the role's
policy is enough.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_aws import eks, iam

from components.eks_iam import pod_identity_trust

TYPE_TOKEN = "hybrid-llm-infra:storage:EncryptedEbsStorage"
_SDK = (eks.Addon, iam.Role, iam.RolePolicy, iam.RolePolicyAttachment, k8s.storage.v1.StorageClass)
ADDON = "aws-ebs-csi-driver"
PROVISIONER = "ebs.csi.aws.com"
SERVICE_ACCOUNT = "ebs-csi-controller-sa"
"""The add-on's controller service account in kube-system."""
STORAGE_CLASS = "gp3-encrypted"


def managed_policy_arn(partition: str) -> str:
    return f"arn:{partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


def kms_policy(key_arn: str) -> dict[str, object]:
    """What the EBS CSI driver needs on a customer-managed key (its install docs' KMS policy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GrantsForEbsOnly",
                "Effect": "Allow",
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": [key_arn],
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
            {
                "Sid": "UseKeyForVolumes",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": [key_arn],
            },
        ],
    }


@dataclass(frozen=True)
class EncryptedEbsStorageArgs:
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    account_id: str
    partition: str
    kms_key_arn: pulumi.Input[str]
    addon_version: str
    kubernetes_provider: pulumi.ProviderResource
    tags: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    addon_depends_on: Sequence[pulumi.Resource] = ()
    """The Pod Identity agent and nodes for the controller (the add-on stays DEGRADED without them)."""


class EncryptedEbsStorage(pulumi.ComponentResource):
    role: iam.Role
    addon: eks.Addon
    storage_class: k8s.storage.v1.StorageClass

    def __init__(self, name: str, args: EncryptedEbsStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "Name": f"{name}-{ADDON}"}
        trust = pulumi.Output.from_input(args.cluster_arn).apply(
            lambda arn: json.dumps(pod_identity_trust(args.account_id, arn))
        )
        self.role = iam.Role(f"{name}-role", assume_role_policy=trust, tags=tags, opts=child)
        managed = iam.RolePolicyAttachment(
            f"{name}-managed-policy", role=self.role.name, policy_arn=managed_policy_arn(args.partition), opts=child
        )
        key_policy = iam.RolePolicy(
            f"{name}-kms",
            role=self.role.id,
            policy=pulumi.Output.from_input(args.kms_key_arn).apply(lambda arn: json.dumps(kms_policy(arn))),
            opts=child,
        )
        self.addon = eks.Addon(
            f"{name}-addon",
            cluster_name=args.cluster_name,
            addon_name=ADDON,
            addon_version=args.addon_version,
            pod_identity_associations=[
                eks.AddonPodIdentityAssociationArgs(role_arn=self.role.arn, service_account=SERVICE_ACCOUNT)
            ],
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[managed, key_policy, *args.addon_depends_on]),
        )
        self.storage_class = k8s.storage.v1.StorageClass(
            f"{name}-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS, labels=dict(args.labels)),
            provisioner=PROVISIONER,
            # Parameters of the EBS CSI driver (docs/parameters.md): gp3, encrypted with the stack key.
            parameters={"type": "gp3", "encrypted": "true", "kmsKeyId": args.kms_key_arn},
            volume_binding_mode="WaitForFirstConsumer",
            reclaim_policy="Retain",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider, depends_on=[self.addon]),
        )
        self.register_outputs({"storageClass": STORAGE_CLASS, "roleArn": self.role.arn})
