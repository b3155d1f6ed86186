"""The hardening every bucket of the platform gets: no public access, owner-enforced objects, SSE-KMS with the
stack key, versioning. Callers add their own lifecycle and policy (both depend on what the bucket is for)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_aws import s3


@dataclass(frozen=True)
class PrivateBucket:
    bucket: s3.Bucket
    public_access_block: s3.BucketPublicAccessBlock
    """A bucket policy must wait for it: S3 rejects a policy while the block is being written."""
    versioning: s3.BucketVersioning
    """Lifecycle rules on a versioned bucket act on versions: they must wait for it."""


def private_bucket(
    resource_name: str,
    prefix: str,
    bucket_name: str,
    kms_key_arn: pulumi.Input[str],
    *,
    bucket_key_enabled: bool,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> PrivateBucket:
    """The bucket ``resource_name`` and its hardening resources named ``<prefix>-public-access-block`` etc."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = s3.Bucket(
        resource_name, bucket=bucket_name, force_destroy=False, tags={**tags, "Name": bucket_name}, opts=child
    )
    blocks = s3.BucketPublicAccessBlock(
        f"{prefix}-public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    s3.BucketOwnershipControls(
        f"{prefix}-ownership",
        bucket=bucket.id,
        rule=s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=child,
    )
    s3.BucketServerSideEncryptionConfiguration(
        f"{prefix}-sse",
        bucket=bucket.id,
        rules=[
            s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
                ),
                bucket_key_enabled=bucket_key_enabled,
            )
        ],
        opts=child,
    )
    versioning = s3.BucketVersioning(
        f"{prefix}-versioning",
        bucket=bucket.id,
        versioning_configuration=s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        opts=child,
    )
    return PrivateBucket(bucket, blocks, versioning)


def tls_only_policy(bucket_arn: str) -> str:
    """Deny every request that does not use TLS (aws:SecureTransport false), for the bucket and its objects."""
    return json.dumps({"Version": "2012-10-17", "Statement": [tls_only_statement(bucket_arn)]})


def tls_only_statement(bucket_arn: str) -> dict[str, object]:
    """The statement of ``tls_only_policy``, for buckets whose policy also grants something."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
