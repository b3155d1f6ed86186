"""The stack's customer-managed KMS key, shared by logs, volumes, secrets and buckets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class StackKeyArgs:
    """Inputs of StackKey."""

    region: str
    """The region the key lives in (it never leaves it)."""
    description: str = "Customer-managed key for this stack's data at rest"
    deletion_window_days: int = 30
    """How long a scheduled deletion can still be cancelled (7-30)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    allow_ec2_autoscaling: bool = False
    """Let the EC2 Auto Scaling service-linked role use the key for EBS volumes it launches (EKS node groups
    with encrypted root volumes); grants only for AWS resources."""


class StackKey(pulumi.ComponentResource):
    """A KMS key with rotation on and a policy that names principals, never ``*``."""

    key: aws.kms.Key
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: StackKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:security:StackKey", name, None, opts)
        invoke = pulumi.InvokeOptions(parent=self)
        account = aws.get_caller_identity(opts=invoke).account_id
        partition = aws.get_partition(opts=invoke).partition
        self.key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=json.dumps(_key_policy(partition, account, args.region, args.allow_ec2_autoscaling)),
            tags={**args.tags, "Name": f"{name}-key"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{name}",
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})


def _key_policy(partition: str, account: str, region: str, ec2_autoscaling: bool = False) -> dict[str, object]:
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
    if ec2_autoscaling:
        assert isinstance(policy["Statement"], list)
        policy["Statement"] += _ec2_autoscaling_statements(partition, account)
    return policy


def _ec2_autoscaling_statements(partition: str, account: str) -> list[dict[str, object]]:
    role = (
        f"arn:{partition}:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )
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
