"""Who read the model bucket: CloudTrail data events for its objects, kept in an in-region log bucket.

CloudTrail data events rather than S3 server access logging: a server-access-log target bucket takes default
encryption with SSE-S3 only, not SSE-KMS (S3 user guide, "Enabling Amazon S3 server access logging"), while every
bucket here is SSE-KMS with the stack key (control ``s3-encryption-and-access``). A trail also delivers within
minutes, signs digest files (log file validation) and names the IAM principal of each GetObject.

The trail's ARN is known before the trail exists, so the stack key's policy and the log bucket's policy name it
without depending on the trail (which depends on both).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_aws import cloudtrail, s3

from components.private_bucket import private_bucket, tls_only_statement

TYPE_TOKEN = "hybrid-llm-infra:storage:ModelAccessTrail"
CLOUDTRAIL = "cloudtrail.amazonaws.com"
# Resolve the SDK's lazy modules at import (see components/model_bucket.py).
_SDK = (cloudtrail.Trail, cloudtrail.TrailAdvancedEventSelectorArgs, s3.BucketLifecycleConfiguration)


def trail_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """A trail's ARN, as CloudTrail forms it (the ``aws:SourceArn`` of its deliveries and KMS calls)."""
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{name}"


@dataclass(frozen=True)
class ModelAccessTrailArgs:
    """Inputs of ModelAccessTrail."""

    model_bucket_name: str
    """The bucket whose object reads and writes are recorded."""
    log_bucket_name: str
    """Globally unique name of the bucket the trail delivers to (in the same region)."""
    trail_name: str
    partition: str
    region: str
    """The stack's region: the trail is single-region, the log bucket is the provider's region."""
    account_id: str
    kms_key_arn: pulumi.Input[str]
    """The stack key; its policy must admit CloudTrail for ``trail_arn`` (``StackKeyArgs.cloudtrail_trail_arns``)."""
    retention_days: int = 365
    """Log files expire this many days after delivery (and their noncurrent version a day later)."""
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def trail_arn(self) -> str:
        return trail_arn(self.partition, self.region, self.account_id, self.trail_name)

    @property
    def log_bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.log_bucket_name}"


class ModelAccessTrail(pulumi.ComponentResource):
    """A single-region trail of the model bucket's object-level events, to a private SSE-KMS log bucket."""

    log_bucket: s3.Bucket
    log_bucket_name: pulumi.Output[str]
    trail: cloudtrail.Trail

    def __init__(self, name: str, args: ModelAccessTrailArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        hardened = private_bucket(
            f"{name}-logs",
            f"{name}-logs",
            args.log_bucket_name,
            args.kms_key_arn,
            # No bucket key: with one, CloudTrail's SSE-KMS writes would use it (S3 user guide, "Configuring an S3
            # Bucket Key at the object level") and CloudTrail would need kms:Decrypt too (CloudTrail user guide,
            # "Configure AWS KMS key policies for CloudTrail").
            bucket_key_enabled=False,
            tags=args.tags,
            parent=self,
        )
        self.log_bucket, blocks, versioning = hardened.bucket, hardened.public_access_block, hardened.versioning
        s3.BucketLifecycleConfiguration(
            f"{name}-logs-lifecycle",
            bucket=self.log_bucket.id,
            rules=[
                s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    # On a versioned bucket expiry adds a delete marker; the noncurrent version goes a day later and
                    # S3 then removes the expired delete marker itself (S3 user guide, lifecycle example 7).
                    expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.retention_days),
                    noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=1
                    ),
                    abort_incomplete_multipart_upload=s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        policy = s3.BucketPolicy(
            f"{name}-logs-policy",
            bucket=self.log_bucket.id,
            policy=json.dumps(log_bucket_policy(args.log_bucket_arn, args.account_id, args.trail_arn)),
            # S3 rejects a policy while the public access block is being written; order them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[blocks]),
        )
        self.trail = cloudtrail.Trail(
            f"{name}-trail",
            name=args.trail_name,
            s3_bucket_name=self.log_bucket.bucket,
            kms_key_id=args.kms_key_arn,
            enable_log_file_validation=True,
            is_multi_region_trail=False,
            is_organization_trail=False,
            # The provider's default is true; global-service (IAM, STS) events are management events of us-east-1.
            include_global_service_events=False,
            advanced_event_selectors=[model_object_selector(args.partition, args.model_bucket_name)],
            tags={**args.tags, "Name": args.trail_name},
            # CreateTrail checks the bucket policy (InsufficientS3BucketPolicyException) and the key policy
            # (InsufficientEncryptionPolicyException); the key is a dependency through kms_key_id.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.log_bucket_name = self.log_bucket.bucket
        self.register_outputs({"logBucketName": self.log_bucket_name, "trailArn": self.trail.arn})


def model_object_selector(partition: str, bucket_name: str) -> cloudtrail.TrailAdvancedEventSelectorArgs:
    """Data events of every object of the bucket; no ``readOnly`` field, so reads and writes both."""
    fields = cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs
    return cloudtrail.TrailAdvancedEventSelectorArgs(
        name="Reads and writes of model objects",
        field_selectors=[
            fields(field="eventCategory", equals=["Data"]),
            fields(field="resources.type", equals=["AWS::S3::Object"]),
            # The trailing slash keeps out buckets whose name merely starts with this one's.
            fields(field="resources.ARN", starts_withs=[f"arn:{partition}:s3:::{bucket_name}/"]),
        ],
    )


def log_bucket_policy(bucket_arn: str, account_id: str, source_trail_arn: str) -> dict[str, object]:
    """TLS only, and the two statements the CloudTrail user guide prescribes ("Amazon S3 bucket policy for
    CloudTrail"), each scoped to this trail by ``aws:SourceArn``. The ``s3:x-amz-acl`` condition stays: CloudTrail
    writes with ``bucket-owner-full-control``, the one ACL a BucketOwnerEnforced bucket still accepts (S3 user guide,
    "Controlling ownership of objects and disabling ACLs")."""
    this_trail = {"aws:SourceArn": source_trail_arn}
    return {
        "Version": "2012-10-17",
        "Statement": [
            tls_only_statement(bucket_arn),
            {
                "Sid": "AWSCloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": this_trail},
            },
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **this_trail}},
            },
        ],
    }
