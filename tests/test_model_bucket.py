"""ModelBucket, VpcEndpoints and the stack key's grants for EBS, under the mock engine."""

from __future__ import annotations

import json
from typing import Any

from components.kms import StackKey, StackKeyArgs
from components.model_bucket import ModelBucket, ModelBucketArgs
from components.vpc_endpoints import VpcEndpoints, VpcEndpointsArgs

KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-4333-8444-555555555555"


def build_bucket(stack: Any) -> ModelBucket:
    bucket = ModelBucket(
        "m",
        ModelBucketArgs(bucket_name="models-dubai-123", kms_key_arn=KEY_ARN, noncurrent_version_expiration_days=45),
    )
    stack.settle()
    return bucket


def only(stack: Any, type_token: str) -> Any:
    (resource,) = stack.of_type(type_token)
    return resource


def test_bucket_is_kms_encrypted_with_a_bucket_key_and_versioned(pulumi_mocks_factory: Any) -> None:
    stack = pulumi_mocks_factory("me-central-1")
    bucket = build_bucket(stack)
    assert stack.resolve(bucket.bucket_name) == "models-dubai-123"
    assert stack.resolve(bucket.arn) == "arn:aws:s3:::models-dubai-123"
    sse = only(stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    (rule,) = sse.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}
    assert rule["bucketKeyEnabled"] is True
    versioning = only(stack, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"


def test_bucket_blocks_all_public_access_and_enforces_ownership(mock_stack: Any) -> None:
    build_bucket(mock_stack)
    block = only(mock_stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block.inputs[f] is True for f in flags)
    ownership = only(mock_stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_bucket_policy_denies_plain_http(mock_stack: Any) -> None:
    build_bucket(mock_stack)
    policy = json.loads(only(mock_stack, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == ["arn:aws:s3:::models-dubai-123", "arn:aws:s3:::models-dubai-123/*"]


def test_bucket_expires_noncurrent_versions_and_never_replicates(mock_stack: Any) -> None:
    build_bucket(mock_stack)
    lifecycle = only(mock_stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    (rule,) = lifecycle.inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 45
    versioning = only(mock_stack, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.urn in lifecycle.dependencies
    types = {r.type for r in mock_stack.capture.resources.values()}
    assert not any("replication" in t.lower() for t in types)
    bucket = only(mock_stack, "aws:s3/bucket:Bucket")
    assert "replicationConfiguration" not in bucket.inputs


def test_vpc_endpoints_keep_pulls_in_region(pulumi_mocks_factory: Any) -> None:
    stack = pulumi_mocks_factory("me-central-1")
    VpcEndpoints(
        "ep",
        VpcEndpointsArgs(
            region="me-central-1",
            vpc_id="vpc-1",
            vpc_cidr="10.30.0.0/16",
            subnet_ids=["subnet-a", "subnet-b"],
            route_table_ids=["rtb-a", "rtb-b"],
        ),
    )
    endpoints = {r.inputs["serviceName"]: r.inputs for r in stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    prefix = "com.amazonaws.me-central-1."
    assert set(endpoints) == {prefix + s for s in ("s3", "ecr.api", "ecr.dkr", "sts", "logs", "eks-auth")}
    s3 = endpoints[prefix + "s3"]
    assert s3["vpcEndpointType"] == "Gateway" and s3["routeTableIds"] == ["rtb-a", "rtb-b"]
    sg = only(stack, "aws:ec2/securityGroup:SecurityGroup")
    for service, inputs in endpoints.items():
        if service == prefix + "s3":
            continue
        assert inputs["vpcEndpointType"] == "Interface" and inputs["privateDnsEnabled"] is True
        assert inputs["subnetIds"] == ["subnet-a", "subnet-b"]
        assert inputs["securityGroupIds"] == [sg.id]
    (ingress,) = sg.inputs["ingress"]
    assert (ingress["fromPort"], ingress["toPort"], ingress["protocol"]) == (443, 443, "tcp")
    assert ingress["cidrBlocks"] == ["10.30.0.0/16"]
    assert sg.inputs["egress"] == []


def test_stack_key_lets_auto_scaling_encrypt_node_volumes_only_when_asked(mock_stack: Any) -> None:
    StackKey("plain", StackKeyArgs(region="eu-central-1"))
    StackKey("nodes", StackKeyArgs(region="eu-central-1", ec2_autoscaling_role="create"))
    policies = {k.name: json.loads(k.inputs["policy"]) for k in mock_stack.of_type("aws:kms/key:Key")}
    sids = {name: {s["Sid"] for s in p["Statement"]} for name, p in policies.items()}
    assert "AutoScalingGrantsForEbs" not in sids["plain-key"]
    assert {"AutoScalingUsesKeyForEbs", "AutoScalingGrantsForEbs"} <= sids["nodes-key"]
    grant = next(s for s in policies["nodes-key"]["Statement"] if s["Sid"] == "AutoScalingGrantsForEbs")
    assert grant["Principal"]["AWS"].endswith(
        ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert all(
        s["Principal"] != "*" and s["Principal"] != {"AWS": "*"} for p in policies.values() for s in p["Statement"]
    )
