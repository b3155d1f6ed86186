"""Every AWS API call the audit makes, written once: the scanner refuses a call missing here, and the
read-only IAM policy printed by ``infra audit --print-iam-policy`` is derived from the same list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class ApiCall:
    client: str
    """The boto3 client name (``boto3.client(client)``)."""
    operation: str
    """The API operation as botocore models it (CamelCase)."""
    action: str
    """The IAM action that authorises it."""
    why: str


AUDIT_CALLS: tuple[ApiCall, ...] = (
    ApiCall("sts", "GetCallerIdentity", "sts:GetCallerIdentity", "account id for ARNs; fails fast on bad credentials"),
    ApiCall("ec2", "DescribeRegions", "ec2:DescribeRegions", "every region and its opt-in status"),
    ApiCall("resourcegroupstaggingapi", "GetResources", "tag:GetResources", "every tagged resource of a region"),
    ApiCall("s3", "ListBuckets", "s3:ListAllMyBuckets", "buckets, tagged or not"),
    ApiCall("s3", "GetBucketLocation", "s3:GetBucketLocation", "a bucket's region (also replication destinations)"),
    ApiCall("s3", "GetBucketTagging", "s3:GetBucketTagging", "tags of buckets the tagging API cannot show"),
    ApiCall("s3", "GetBucketEncryption", "s3:GetEncryptionConfiguration", "SSE-KMS or not"),
    ApiCall("s3", "GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock", "all four public-access blocks"),
    ApiCall("s3", "GetBucketReplication", "s3:GetReplicationConfiguration", "replication destinations"),
    ApiCall("eks", "ListClusters", "eks:ListClusters", "EKS clusters of a region"),
    ApiCall("eks", "DescribeCluster", "eks:DescribeCluster", "endpoint access and tags of a cluster"),
    ApiCall("ec2", "DescribeVpnConnections", "ec2:DescribeVpnConnections", "VPN tunnel status (VgwTelemetry)"),
)

_BY_OPERATION = {(c.client, c.operation): c for c in AUDIT_CALLS}


def api_call(client: str, operation: str) -> ApiCall:
    try:
        return _BY_OPERATION[(client, operation)]
    except KeyError:
        raise KeyError(
            f"{client}:{operation} is not in infra.audit.iam_policy.AUDIT_CALLS; add it there so the printed IAM "
            "policy grants it"
        ) from None


def iam_policy() -> dict[str, object]:
    """The least-privilege, read-only policy the audit needs (one statement, every action it calls)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "HybridLlmInfraAuditReadOnly",
                "Effect": "Allow",
                "Action": sorted({c.action for c in AUDIT_CALLS}),
                "Resource": "*",
            }
        ],
    }


def render_iam_policy() -> str:
    return json.dumps(iam_policy(), indent=2) + "\n"
