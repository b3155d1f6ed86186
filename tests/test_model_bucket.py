"""ModelBucket and its access trail, VpcEndpoints, and the stack key's grants, under the mock engine."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

import pytest

from components.kms import StackKey, StackKeyArgs
from components.model_access_trail import ModelAccessTrail, ModelAccessTrailArgs, trail_arn
from components.model_bucket import ModelBucket, ModelBucketArgs
from components.vpc_endpoints import VpcEndpoints, VpcEndpointsArgs
from infra.project import load_project
from stackconfig import PROJECT, ConfigError, parse_stack_config
from stackconfig.aws_cluster import ModelBucketConfig
from stacks.aws_region import _check_bucket_names
from tests.stack_runs import ROOT, shipped_runs

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


# --- Who read the model bucket: the access trail (CloudTrail data events) and its log bucket ----------------------

ACCOUNT = "123456789012"
TRAIL_ARN = f"arn:aws:cloudtrail:me-central-1:{ACCOUNT}:trail/model-access"
LOGS = "arn:aws:s3:::logs-dubai-123"
TRAIL = "aws:cloudtrail/trail:Trail"
CLOUDTRAIL = {"Service": "cloudtrail.amazonaws.com"}


def build_trail(stack: Any) -> ModelAccessTrail:
    trail = ModelAccessTrail(
        "a",
        ModelAccessTrailArgs(
            model_bucket_name="models-dubai-123",
            log_bucket_name="logs-dubai-123",
            trail_name="model-access",
            partition="aws",
            region="me-central-1",
            account_id=ACCOUNT,
            kms_key_arn=KEY_ARN,
            retention_days=400,
        ),
    )
    stack.settle()
    return trail


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(policy: dict[str, Any], principal: dict[str, str], action: str, resource: str, **context: str) -> bool:
    """IAM's evaluation of one resource policy, for the operators these policies use: a matching Deny wins, then a
    matching Allow; within a condition the values are ORed, the keys and operators ANDed; a missing key fails."""

    def matches(statement: dict[str, Any]) -> bool:
        wanted = statement["Principal"]
        if not any(principal.get(kind) in _values(v) or "*" in _values(v) for kind, v in wanted.items()):
            return False
        if not any(fnmatchcase(action, a) for a in _values(statement["Action"])):
            return False
        if not any(fnmatchcase(resource, r) for r in _values(statement["Resource"])):
            return False
        for operator, tests in statement.get("Condition", {}).items():
            for key, expected in tests.items():
                actual = context.get(key.replace(":", "_").replace("-", "_"))
                if actual is None:
                    return False
                if operator in ("StringEquals", "Bool"):
                    ok = actual in _values(expected)
                elif operator in ("StringLike", "ArnLike"):
                    ok = any(fnmatchcase(actual, e) for e in _values(expected))
                else:
                    raise AssertionError(f"the evaluator does not know {operator}")
                if not ok:
                    return False
        return True

    hits = [s for s in policy["Statement"] if matches(s)]
    return any(s["Effect"] == "Allow" for s in hits) and not any(s["Effect"] == "Deny" for s in hits)


def logged(selectors: list[dict[str, Any]], event: dict[str, str]) -> bool:
    """CloudTrail's advanced event selectors: an event is logged when every field selector of some selector holds
    (an operator's values are ORed; a field the selector leaves out, such as readOnly, is not filtered)."""

    def holds(selector: dict[str, Any]) -> bool:
        value = event[selector["field"]]
        if "equals" in selector and value not in selector["equals"]:
            return False
        if "startsWiths" in selector and not any(value.startswith(p) for p in selector["startsWiths"]):
            return False
        assert set(selector) <= {"field", "equals", "startsWiths"}, selector
        return True

    return any(all(holds(f) for f in s["fieldSelectors"]) for s in selectors)


def object_event(arn: str, read_only: bool, category: str = "Data") -> dict[str, str]:
    return {
        "eventCategory": category,
        "resources.type": "AWS::S3::Object",
        "resources.ARN": arn,
        "readOnly": str(read_only).lower(),
    }


def test_access_trail_logs_every_read_and_write_of_the_model_objects_and_nothing_else(mock_stack: Any) -> None:
    build_trail(mock_stack)
    trail = only(mock_stack, TRAIL)
    selectors = trail.inputs["advancedEventSelectors"]
    weights = "arn:aws:s3:::models-dubai-123/models/llama/model-00001.safetensors"
    assert logged(selectors, object_event(weights, read_only=True))  # GetObject, HeadObject
    assert logged(selectors, object_event(weights, read_only=False))  # PutObject, DeleteObject
    for elsewhere in ("arn:aws:s3:::models-dubai-1234/x", f"{LOGS}/AWSLogs/{ACCOUNT}/x", "arn:aws:s3:::other/models"):
        assert not logged(selectors, object_event(elsewhere, read_only=True)), elsewhere
    assert not logged(selectors, object_event(weights, read_only=True, category="Management"))
    inputs = trail.inputs
    assert (inputs["name"], inputs["s3BucketName"], inputs["kmsKeyId"]) == ("model-access", "logs-dubai-123", KEY_ARN)
    assert inputs["enableLogFileValidation"] is True
    assert inputs["isMultiRegionTrail"] is False and inputs["includeGlobalServiceEvents"] is False


def test_access_log_bucket_is_private_kms_encrypted_versioned_and_expires_its_logs(mock_stack: Any) -> None:
    build_trail(mock_stack)
    block = only(mock_stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block.inputs[f] is True for f in flags)
    ownership = only(mock_stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    (rule,) = only(
        mock_stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}
    assert rule["bucketKeyEnabled"] is False  # CloudTrail's SSE-KMS writes must not go through a bucket key
    versioning = only(mock_stack, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    lifecycle = only(mock_stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    (expire,) = lifecycle.inputs["rules"]
    assert expire["status"] == "Enabled" and expire["filter"] == {"prefix": ""}
    assert expire["expiration"]["days"] == 400 and expire["noncurrentVersionExpiration"]["noncurrentDays"] == 1
    assert versioning.urn in lifecycle.dependencies
    bucket = only(mock_stack, "aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == "logs-dubai-123" and bucket.inputs["forceDestroy"] is False
    assert "replicationConfiguration" not in bucket.inputs
    assert not any("replication" in r.type.lower() for r in mock_stack.capture.resources.values())


def test_only_this_trail_may_write_to_the_log_bucket_and_only_over_tls(mock_stack: Any) -> None:
    build_trail(mock_stack)
    resource = only(mock_stack, "aws:s3/bucketPolicy:BucketPolicy")
    policy = json.loads(resource.inputs["policy"])
    log_file = f"{LOGS}/AWSLogs/{ACCOUNT}/CloudTrail/me-central-1/2025/01/01/{ACCOUNT}_CloudTrail_x.json.gz"
    delivery = {"aws_SecureTransport": "true", "s3_x_amz_acl": "bucket-owner-full-control"}
    assert allows(policy, CLOUDTRAIL, "s3:GetBucketAcl", LOGS, aws_SourceArn=TRAIL_ARN, aws_SecureTransport="true")
    assert allows(policy, CLOUDTRAIL, "s3:PutObject", log_file, aws_SourceArn=TRAIL_ARN, **delivery)
    other_trail = TRAIL_ARN.replace("model-access", "someone-elses")
    assert not allows(policy, CLOUDTRAIL, "s3:PutObject", log_file, aws_SourceArn=other_trail, **delivery)
    assert not allows(policy, CLOUDTRAIL, "s3:PutObject", log_file, **delivery)  # no source: not this trail
    assert not allows(policy, CLOUDTRAIL, "s3:PutObject", f"{LOGS}/elsewhere/x", aws_SourceArn=TRAIL_ARN, **delivery)
    insecure = {**delivery, "aws_SecureTransport": "false"}
    assert not allows(policy, CLOUDTRAIL, "s3:PutObject", log_file, aws_SourceArn=TRAIL_ARN, **insecure)
    for stranger in ({"Service": "logging.s3.amazonaws.com"}, {"AWS": "arn:aws:iam::999999999999:root"}):
        assert not allows(policy, stranger, "s3:PutObject", log_file, aws_SourceArn=TRAIL_ARN, **delivery)
        assert not allows(policy, stranger, "s3:GetObject", log_file, aws_SourceArn=TRAIL_ARN, **delivery)
    assert {s["Principal"]["Service"] for s in policy["Statement"] if s["Effect"] == "Allow"} == {
        "cloudtrail.amazonaws.com"
    }
    block = only(mock_stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert block.urn in resource.dependencies


def test_stack_key_admits_cloudtrail_only_for_the_named_trail_of_this_account(mock_stack: Any) -> None:
    StackKey("plain", StackKeyArgs(region="me-central-1"))
    StackKey("trail", StackKeyArgs(region="me-central-1", cloudtrail_trail_arns=(TRAIL_ARN,)))
    policies = {k.name: json.loads(k.inputs["policy"]) for k in mock_stack.of_type("aws:kms/key:Key")}
    key = policies["trail-key"]

    def encrypts(source: str | None, context: str) -> bool:
        extra = {"aws_SourceArn": source} if source else {}
        return allows(
            key, CLOUDTRAIL, "kms:GenerateDataKey", "*", kms_EncryptionContext_aws_cloudtrail_arn=context, **extra
        )

    assert encrypts(TRAIL_ARN, TRAIL_ARN)
    assert allows(key, CLOUDTRAIL, "kms:DescribeKey", "*", aws_SourceArn=TRAIL_ARN)
    assert not encrypts(TRAIL_ARN.replace("model-access", "other"), TRAIL_ARN.replace("model-access", "other"))
    assert not encrypts(None, TRAIL_ARN)
    assert not encrypts(TRAIL_ARN, TRAIL_ARN.replace(ACCOUNT, "999999999999"))  # another account's trail
    assert not allows(key, CLOUDTRAIL, "kms:Decrypt", "*", aws_SourceArn=TRAIL_ARN)
    assert not allows(key, CLOUDTRAIL, "kms:DescribeKey", "*")
    plain = policies["plain-key"]
    assert not allows(
        plain,
        CLOUDTRAIL,
        "kms:GenerateDataKey",
        "*",
        aws_SourceArn=TRAIL_ARN,
        kms_EncryptionContext_aws_cloudtrail_arn=TRAIL_ARN,
    )


@pytest.mark.parametrize(("stack", "region"), [("frankfurt", "eu-central-1"), ("dubai", "me-central-1")])
def test_shipped_stacks_record_who_reads_their_model_bucket(stack: str, region: str) -> None:
    run = shipped_runs()[stack]
    by_urn = {r.urn: r for r in run.resources}
    (trail,) = [r for r in run.resources if r.type == TRAIL]
    (key,) = [r for r in run.resources if r.type == "aws:kms/key:Key"]
    account = run.outputs["kmsKeyArn"].split(":")[4]
    arn = trail_arn("aws", region, account, trail.inputs["name"])
    weights = f"arn:aws:s3:::{run.outputs['modelBucketName']}/models/w.safetensors"
    assert logged(trail.inputs["advancedEventSelectors"], object_event(weights, read_only=True))
    assert trail.inputs["kmsKeyId"] == run.outputs["kmsKeyArn"]
    context = {"kms_EncryptionContext_aws_cloudtrail_arn": arn}
    assert allows(
        json.loads(key.inputs["policy"]), CLOUDTRAIL, "kms:GenerateDataKey", "*", aws_SourceArn=arn, **context
    )
    log_bucket = run.outputs["modelAccessLogBucketName"]
    assert trail.inputs["s3BucketName"] == log_bucket
    parts = {by_urn[d].type.split(":")[-1]: by_urn[d] for d in trail.dependencies}
    assert parts["Key"].urn == key.urn, "the trail is created after the key (and its CloudTrail statements)"
    policy = json.loads(parts["BucketPolicy"].inputs["policy"])
    log_file = f"arn:aws:s3:::{log_bucket}/AWSLogs/{account}/CloudTrail/{region}/x.json.gz"
    delivery = {"aws_SecureTransport": "true", "s3_x_amz_acl": "bucket-owner-full-control", "aws_SourceArn": arn}
    assert allows(policy, CLOUDTRAIL, "s3:PutObject", log_file, **delivery)
    (bucket,) = [r for r in run.resources if r.type == "aws:s3/bucket:Bucket" and r.inputs["bucket"] == log_bucket]
    provider = by_urn[bucket.provider or ""]
    assert provider.inputs["region"] == region
    companions = [r for r in run.resources if bucket.urn in r.dependencies]
    (sse,) = [r for r in companions if r.type.endswith(":BucketServerSideEncryptionConfiguration")]
    (rule,) = sse.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == run.outputs["kmsKeyArn"]
    assert f":kms:{region}:" in run.outputs["kmsKeyArn"]
    (lifecycle,) = [r for r in companions if r.type.endswith(":BucketLifecycleConfiguration")]
    assert lifecycle.inputs["rules"][0]["expiration"]["days"] == ModelBucketConfig().access_log_retention_days


def test_access_log_retention_is_bounded_and_named_by_its_key() -> None:
    raw = dict(load_project(ROOT).stack("dubai").config)
    key = f"{PROJECT}:modelBucket"
    assert ModelBucketConfig().access_log_retention_days == 365
    for days in (0, 3651):
        changed = {**raw, key: json.dumps({**json.loads(raw[key]), "accessLogRetentionDays": days})}
        with pytest.raises(ConfigError) as info:
            parse_stack_config(changed)
        assert any("modelBucket.accessLogRetentionDays" in str(p) for p in info.value.problems)


def test_a_site_name_too_long_for_the_bucket_names_is_a_config_error() -> None:
    _check_bucket_names("a" * 63)
    with pytest.raises(ConfigError) as info:
        _check_bucket_names("ok", "b" * 64)
    (problem,) = info.value.problems
    assert str(problem).startswith(f"{PROJECT}:deployment.site")
