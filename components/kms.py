"""The stack's customer-managed KMS key, shared by logs, volumes, secrets and buckets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

AUTOSCALING_SERVICE = "autoscaling.amazonaws.com"
AUTOSCALING_ROLE_NAME = "AWSServiceRoleForAutoScaling"


@dataclass(frozen=True)
class StackKeyArgs:
    """Inputs of StackKey."""

    region: str
    """The region the key lives in (it never leaves it)."""
    description: str = "Customer-managed key for this stack's data at rest"
    deletion_window_days: int = 30
    """How long a scheduled deletion can still be cancelled (7-30)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    ec2_autoscaling_role: Literal["create", "existing"] | None = None
    """Let the EC2 Auto Scaling service-linked role use the key for EBS volumes it launches (EKS node groups
    with encrypted root volumes; grants only for AWS resources). KMS refuses a policy naming a principal that
    does not exist (``MalformedPolicyDocumentException``), and an account that never had an Auto Scaling group
    has no such role: ``create`` makes it before the key, ``existing`` looks it up (and fails the preview,
    not the key, when it is missing). None: the key names no Auto Scaling role."""
    cloudtrail_trail_arns: tuple[str, ...] = ()
    """Trails of this account that may encrypt their log files with the key (``_cloudtrail_statements``)."""


class StackKey(pulumi.ComponentResource):
    """A KMS key with rotation on and a policy that names principals, never ``*``."""

    key: aws.kms.Key
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: StackKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:security:StackKey", name, None, opts)
        invoke = pulumi.InvokeOptions(parent=self)
        account = aws.get_caller_identity(opts=invoke).account_id
        partition = aws.get_partition(opts=invoke).partition
        key_depends_on: list[pulumi.Resource] = []
        autoscaling_role_arn: str | None = None
        self.autoscaling_role: aws.iam.ServiceLinkedRole | None = None
        if args.ec2_autoscaling_role == "create":
            # Kept on destroy: other Auto Scaling groups of the account may come to rely on it.
            self.autoscaling_role = aws.iam.ServiceLinkedRole(
                f"{name}-autoscaling-slr",
                aws_service_name=AUTOSCALING_SERVICE,
                description="EC2 Auto Scaling (EKS managed node groups) launches instances with the stack key",
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            key_depends_on.append(self.autoscaling_role)
            autoscaling_role_arn = autoscaling_role_arn_of(partition, account)
        elif args.ec2_autoscaling_role == "existing":
            autoscaling_role_arn = aws.iam.get_role(name=AUTOSCALING_ROLE_NAME, opts=invoke).arn
        self.key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            # CreateKey is retried while IAM propagates a new principal (terraform-provider-aws
            # internal/service/kms/key.go, waitIAMPropagation), so depending on the role is enough.
            policy=json.dumps(
                _with_cloudtrail(
                    _key_policy(partition, account, args.region, autoscaling_role_arn),
                    partition,
                    account,
                    args.cloudtrail_trail_arns,
                )
            ),
            tags={**args.tags, "Name": f"{name}-key"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=key_depends_on),
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{name}",
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})


def autoscaling_role_arn_of(partition: str, account: str) -> str:
    """The ARN IAM gives the Auto Scaling service-linked role (its path is fixed by the service)."""
    return f"arn:{partition}:iam::{account}:role/aws-service-role/{AUTOSCALING_SERVICE}/{AUTOSCALING_ROLE_NAME}"


def _key_policy(
    partition: str, account: str, region: str, autoscaling_role_arn: str | None = None
) -> dict[str, object]:
    policy: dict[str, object] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                # CloudWatch Logs may use the key only for this account's log groups in this region.
                "Sid": "CloudWatchLogsInRegion",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:*"}
                },
            },
        ],
    }
    if autoscaling_role_arn:
        assert isinstance(policy["Statement"], list)
        policy["Statement"] += _ec2_autoscaling_statements(autoscaling_role_arn)
    return policy


def _ec2_autoscaling_statements(role: str) -> list[dict[str, object]]:
    # As AWS documents it for encrypted EBS volumes of Auto Scaling groups; the role is this account's own.
    return [
        {
            "Sid": "AutoScalingUsesKeyForEbs",
            "Effect": "Allow",
            "Principal": {"AWS": role},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
        },
        {
            "Sid": "AutoScalingGrantsForEbs",
            "Effect": "Allow",
            "Principal": {"AWS": role},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]


# --- CloudTrail (the model-access trail, components/model_access_trail.py) ---------------------------------------


def _with_cloudtrail(
    policy: dict[str, object], partition: str, account: str, trail_arns: tuple[str, ...]
) -> dict[str, object]:
    if trail_arns:
        assert isinstance(policy["Statement"], list)
        policy["Statement"] += _cloudtrail_statements(partition, account, trail_arns)
    return policy


def _cloudtrail_statements(partition: str, account: str, trail_arns: tuple[str, ...]) -> list[dict[str, object]]:
    """What the CloudTrail user guide requires ("Configure AWS KMS key policies for CloudTrail"): encrypt, scoped
    to the named trails by ``aws:SourceArn`` and to this account's trails by the encryption context, and describe
    the key. Without them CreateTrail fails with InsufficientEncryptionPolicyException. No kms:Decrypt: the log
    bucket has no S3 Bucket Key, and readers decrypt through the account statement."""
    these_trails = {"aws:SourceArn": list(trail_arns)}
    return [
        {
            "Sid": "CloudTrailEncryptsLogs",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": these_trails,
                "StringLike": {
                    "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{partition}:cloudtrail:*:{account}:trail/*"
                },
            },
        },
        {
            "Sid": "CloudTrailDescribesKey",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": these_trails},
        },
    ]
