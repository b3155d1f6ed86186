"""The model artifact bucket of a region: private, KMS-encrypted, versioned, TLS only, never replicated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_aws import s3

from components.private_bucket import private_bucket, tls_only_policy

TYPE_TOKEN = "hybrid-llm-infra:storage:ModelBucket"
# Resolve the SDK's lazy modules when this module is imported, not at the first registration:
# `infra check` imports the program once and then forks a worker per stack, which share them.
_SDK = (
    s3.Bucket,
    s3.BucketPublicAccessBlock,
    s3.BucketOwnershipControls,
    s3.BucketServerSideEncryptionConfiguration,
    s3.BucketVersioning,
    s3.BucketLifecycleConfiguration,
    s3.BucketPolicy,
)


@dataclass(frozen=True)
class ModelBucketArgs:
    """Inputs of ModelBucket."""

    bucket_name: str
    """Globally unique name, known at program time (model URIs are built from it)."""
    kms_key_arn: pulumi.Input[str]
    """The stack's customer-managed key (SSE-KMS with an S3 bucket key)."""
    noncurrent_version_expiration_days: int = 30
    """Old versions of a model object are deleted this many days after they are replaced."""
    abort_incomplete_upload_days: int = 7
    tags: Mapping[str, str] = field(default_factory=dict)


class ModelBucket(pulumi.ComponentResource):
    """S3 bucket for model weights. There is deliberately no replication configuration: weights stay in-region."""

    bucket: s3.Bucket
    bucket_name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: ModelBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        hardened = private_bucket(
            f"{name}-bucket",
            name,
            args.bucket_name,
            args.kms_key_arn,
            bucket_key_enabled=True,
            tags=args.tags,
            parent=self,
        )
        self.bucket, blocks, versioning = hardened.bucket, hardened.public_access_block, hardened.versioning
        s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_version_expiration_days
                    ),
                    abort_incomplete_multipart_upload=s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=args.abort_incomplete_upload_days
                    ),
                )
            ],
            # Lifecycle rules on a versioned bucket act on versions: enable versioning first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(tls_only_policy),
            # S3 rejects a policy while the public access block is being written; order them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[blocks]),
        )
        self.bucket_name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "arn": self.arn})
