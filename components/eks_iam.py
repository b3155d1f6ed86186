"""IAM documents of the GPU cluster: service trust, EKS Pod Identity trust, the model-reader policy."""

from __future__ import annotations


def service_trust(service: str, *, tag_session: bool = False) -> dict[str, object]:
    actions = ["sts:AssumeRole", "sts:TagSession"] if tag_session else "sts:AssumeRole"
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
    }


def pod_identity_trust(account: str, cluster_arn: str) -> dict[str, object]:
    """EKS Pod Identity may assume the role, only for this account's cluster."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnEquals": {"aws:SourceArn": cluster_arn},
                },
            }
        ],
    }


def model_read_policy(bucket_arn: str, key_arn: str, region: str) -> dict[str, object]:
    """Read the model bucket and nothing else: list it, get objects, decrypt through S3 in this region."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ListModels", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
            {
                "Sid": "ReadModels",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{bucket_arn}/*",
            },
            {
                "Sid": "DecryptModelsThroughS3",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ],
    }
