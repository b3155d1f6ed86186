"""The data-residency pack through the real gRPC path: one ``python -m pulumi.policy`` process for the module.

Each policy gets a violating and a compliant fixture (synthetic resources in wire form, with their provider),
exemptions are checked valid/expired/malformed, and ``infra check`` is run on the shipped stacks and on a
deliberately broken copy of the project.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE

from infra.analyzer import AnalyzedResource, Diagnostic, PolicyPackProcess, ProviderInfo, Secret, make_urn
from residency.controls import CONTROLS
from residency.exemptions import exempt_message, parse_exempt_message, parse_exemption

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "policies"
TODAY = "2026-06-01"
TAGS = {
    "data-residency": "eu",
    "data-classification": "confidential",
    "owner": "ml-platform",
    "cost-center": "cc-4711",
    "environment": "production",
}
KEY = "arn:aws:kms:eu-central-1:123456789012:key/03d8ade4"


def aws_provider(region: str = "eu-central-1", tags: dict[str, str] | None = None) -> ProviderInfo:
    return ProviderInfo(
        urn=make_urn("p", "s", "pulumi:providers:aws", f"aws-{region}"),
        type="pulumi:providers:aws",
        name=f"aws-{region}",
        properties={"region": region, "defaultTags": json.dumps({"tags": TAGS if tags is None else tags})},
    )


ONPREM = ProviderInfo(
    urn=make_urn("p", "s", "pulumi:providers:kubernetes", "onprem"),
    type="pulumi:providers:kubernetes",
    name="onprem",
    properties={"context": "onprem-gpu"},
)
EKS = ProviderInfo(
    urn=make_urn("p", "s", "pulumi:providers:kubernetes", "eks"),
    type="pulumi:providers:kubernetes",
    name="eks",
    properties={
        "kubeconfig": Secret(
            json.dumps({"clusters": [{"cluster": {"server": "https://ABC.gr7.eu-central-1.eks.amazonaws.com"}}]})
        )
    },
)


def res(
    type_: str, name: str, props: dict[str, Any], provider: ProviderInfo | None = None, **kw: Any
) -> AnalyzedResource:
    if provider is None:
        provider = ONPREM if type_.startswith("kubernetes:") else aws_provider()
    return AnalyzedResource(
        urn=make_urn("p", "s", type_, name), type=type_, name=name, properties=props, provider=provider, **kw
    )


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(PACK) as process:
        yield process


def configure(pack: PolicyPackProcess, **values: Any) -> None:
    base = {"today": TODAY, "stackJurisdiction": "EU", "onpremJurisdiction": "EU", "defaultAwsRegion": ""}
    base.update(values)
    config = {}
    for policy in pack.info().policies:
        declared = policy.config_schema.properties if policy.config_schema else {}
        config[policy.name] = {k: v for k, v in base.items() if k in declared}
    pack.configure(config)


@pytest.fixture
def eu(pack: PolicyPackProcess) -> PolicyPackProcess:
    configure(pack)
    return pack


def names(diagnostics: list[Diagnostic]) -> list[str]:
    return sorted(d.policy_name for d in diagnostics)


def analyze(pack: PolicyPackProcess, resource: AnalyzedResource) -> list[Diagnostic]:
    return pack.analyze(resource) + pack.analyze_stack([resource])


# --- compliant and violating fixtures, per policy --------------------------------------------------------------

SECURE = {
    "runAsNonRoot": True,
    "runAsUser": 10001.0,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
LABELS = {**TAGS, "app.kubernetes.io/component": "inference"}


def deployment(container: dict[str, Any] | None = None, **pod: Any) -> dict[str, Any]:
    c = {
        "name": "vllm",
        "image": "vllm/vllm-openai:v0.11.0",
        "securityContext": SECURE,
        "resources": {"limits": {"nvidia.com/gpu": "1", "memory": "48Gi"}, "requests": {"nvidia.com/gpu": "1"}},
    }
    c.update(container or {})
    spec = {"automountServiceAccountToken": False, "containers": [c], **pod}
    return {
        "metadata": {"name": "m", "namespace": "inference", "labels": LABELS},
        "spec": {"template": {"metadata": {"labels": LABELS}, "spec": spec}},
    }


def vpn(**overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"type": "ipsec.1", "tags": {"Name": "vpn"}}
    for t in (1, 2):
        props.update(
            {
                f"tunnel{t}IkeVersions": ["ikev2"],
                f"tunnel{t}Phase1EncryptionAlgorithms": ["AES256-GCM-16"],
                f"tunnel{t}Phase2EncryptionAlgorithms": ["AES256-GCM-16"],
                f"tunnel{t}Phase1IntegrityAlgorithms": ["SHA2-256"],
                f"tunnel{t}Phase2IntegrityAlgorithms": ["SHA2-256"],
                f"tunnel{t}Phase1DhGroupNumbers": [19, 20],
                f"tunnel{t}Phase2DhGroupNumbers": [19, 20],
                f"tunnel{t}LogOptions": {"cloudwatchLogOptions": {"logEnabled": True}},
                f"tunnel{t}PresharedKey": Secret("psk"),
            }
        )
    props.update(overrides)
    return props


LOG = {"name": "/x", "kmsKeyId": KEY, "retentionInDays": 90, "tags": {}}
LT = {
    "metadataOptions": {"httpTokens": "required"},
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}],
}
EKS_CLUSTER = {
    "name": "c",
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY}},
    "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True},
    "enabledClusterLogTypes": ["api", "audit", "authenticator"],
}
KMS_POLICY = json.dumps(
    {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*"}]}
)
KMS_OPEN_POLICY = json.dumps({"Statement": [{"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"}}]})
SG = {"ingress": [{"protocol": "tcp", "fromPort": 8000, "toPort": 8000, "cidrBlocks": ["10.10.0.0/16"]}]}
SG_OPEN = {"ingress": [{"protocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrBlocks": ["0.0.0.0/0"]}]}
SG_HTTPS = {"ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.20.0.0/16"]}]}
NS = {"metadata": {"name": "inference", "labels": TAGS}}
DENY = {
    "metadata": {"name": "default-deny", "namespace": "inference", "labels": TAGS},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}

CASES: list[tuple[str, AnalyzedResource, list[str]]] = [
    # (id, resource, expected policies) — an empty list means compliant.
    ("tags-ok", res("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": {"Name": "v"}}), []),
    (
        "tags-missing",
        res("aws:ec2/vpc:Vpc", "vpc", {"tags": {"Name": "v"}}, aws_provider(tags={"owner": "x"})),
        ["residency-tags"],
    ),
    ("labels-missing", res("kubernetes:core/v1:Service", "svc", {"metadata": {"name": "s"}}), ["residency-tags"]),
    # A CustomResourceDefinition is an API type holding no data (the vendored ones the front door installs); a
    # patch of one is not exempt.
    (
        "crd-patch-unlabelled",
        res(
            "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinitionPatch",
            "crd-patch",
            {"metadata": {"name": "gateways.gateway.networking.k8s.io"}},
        ),
        ["residency-tags"],
    ),
    # A CustomResourceDefinition is an API type holding no data (the vendored ones the front door installs).
    (
        "crd-unlabelled",
        res(
            "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
            "crd",
            {"metadata": {"name": "gateways.gateway.networking.k8s.io"}},
        ),
        [],
    ),
    (
        "residency-mismatch",
        res("aws:ec2/vpc:Vpc", "vpc", {"tags": {"data-residency": "uae"}}),
        ["residency-matches-location", "stack-single-jurisdiction"],
    ),
    (
        "region-outside",
        res("aws:ec2/vpc:Vpc", "vpc", {"tags": {}}, aws_provider("us-east-1")),
        ["region-in-jurisdiction", "residency-matches-location"],
    ),
    (
        "restricted-on-aws",
        res("aws:ec2/vpc:Vpc", "vpc", {"tags": {"data-classification": "restricted"}}),
        ["restricted-data-onprem-only"],
    ),
    (
        "restricted-on-eks",
        res(
            "kubernetes:core/v1:ConfigMap",
            "cm",
            {"metadata": {"labels": {**TAGS, "data-classification": "restricted"}}},
            EKS,
        ),
        ["restricted-data-onprem-only"],
    ),
    (
        "restricted-onprem-ok",
        res(
            "kubernetes:core/v1:ConfigMap",
            "cm",
            {"metadata": {"labels": {**TAGS, "data-classification": "restricted"}}},
        ),
        [],
    ),
    ("kms-ok", res("aws:kms/key:Key", "k", {"enableKeyRotation": True, "policy": KMS_POLICY}), []),
    ("kms-no-rotation", res("aws:kms/key:Key", "k", {"policy": KMS_POLICY}), ["kms-key-hygiene"]),
    (
        "kms-wildcard",
        res("aws:kms/key:Key", "k", {"enableKeyRotation": True, "policy": KMS_OPEN_POLICY}),
        ["kms-key-hygiene"],
    ),
    ("eks-ok", res("aws:eks/cluster:Cluster", "c", EKS_CLUSTER), []),
    (
        "eks-public",
        res("aws:eks/cluster:Cluster", "c", {**EKS_CLUSTER, "vpcConfig": {"endpointPublicAccess": True}}),
        ["eks-hardening"],
    ),
    ("eks-bare", res("aws:eks/cluster:Cluster", "c", {"name": "c"}), ["eks-hardening"]),
    ("lt-ok", res("aws:ec2/launchTemplate:LaunchTemplate", "lt", LT), []),
    (
        "lt-imdsv1",
        res("aws:ec2/launchTemplate:LaunchTemplate", "lt", {**LT, "metadataOptions": {"httpTokens": "optional"}}),
        ["ec2-imdsv2-encrypted-volumes"],
    ),
    (
        "instance-unencrypted",
        res("aws:ec2/instance:Instance", "i", {"metadataOptions": {"httpTokens": "required"}}),
        ["ec2-imdsv2-encrypted-volumes"],
    ),
    ("log-ok", res("aws:cloudwatch/logGroup:LogGroup", "lg", LOG), []),
    (
        "log-forever-unencrypted",
        res("aws:cloudwatch/logGroup:LogGroup", "lg", {"name": "/x"}),
        ["log-encryption-retention"],
    ),
    (
        "log-too-long",
        res("aws:cloudwatch/logGroup:LogGroup", "lg", {**LOG, "retentionInDays": 3653}),
        ["log-encryption-retention"],
    ),
    ("vpn-ok", res("aws:ec2/vpnConnection:VpnConnection", "v", vpn()), []),
    (
        "vpn-weak",
        res(
            "aws:ec2/vpnConnection:VpnConnection",
            "v",
            vpn(tunnel2IkeVersions=["ikev1", "ikev2"], tunnel1Phase1IntegrityAlgorithms=["SHA1"]),
        ),
        ["vpn-crypto"],
    ),
    (
        "vpn-one-tunnel",
        res("aws:ec2/vpnConnection:VpnConnection", "v", {"tunnel1IkeVersions": ["ikev2"]}),
        ["vpn-crypto"],
    ),
    ("sg-other-ports", res("aws:ec2/securityGroup:SecurityGroup", "sg", SG_HTTPS), []),
    # Alone in the stack: a group on the inference ports that nothing uses (see the attachment tests below).
    ("sg-unattached", res("aws:ec2/securityGroup:SecurityGroup", "sg", SG), ["no-open-inference-ingress"]),
    ("sg-open", res("aws:ec2/securityGroup:SecurityGroup", "sg", SG_OPEN), ["no-open-inference-ingress"]),
    (
        "sg-rule-open-v6",
        res(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "r",
            {"ipProtocol": "tcp", "fromPort": 8000, "toPort": 8000, "cidrIpv6": "::/0", "tags": {}},
        ),
        ["no-open-inference-ingress"],
    ),
    ("pod-ok", res("kubernetes:apps/v1:Deployment", "d", deployment()), []),
    (
        "pod-root",
        res("kubernetes:apps/v1:Deployment", "d", deployment({"securityContext": {"runAsUser": 0}})),
        ["k8s-pod-security"],
    ),
    (
        "pod-gpu-no-limit",
        res("kubernetes:apps/v1:Deployment", "d", deployment({"resources": {"requests": {"nvidia.com/gpu": "1"}}})),
        ["k8s-pod-security"],
    ),
    (
        "pod-bad-registry",
        res("kubernetes:apps/v1:Deployment", "d", deployment({"image": "evil.example.com/vllm:latest"})),
        ["k8s-pod-security"],
    ),
]


@pytest.mark.parametrize(("resource", "expected"), [(r, e) for _, r, e in CASES], ids=[c[0] for c in CASES])
def test_each_policy_on_fixtures(eu: PolicyPackProcess, resource: AnalyzedResource, expected: list[str]) -> None:
    diagnostics = analyze(eu, resource)
    assert sorted(set(names(diagnostics))) == expected, [d.message for d in diagnostics]
    for d in diagnostics:
        assert d.enforcement_level == CONTROLS[d.policy_name].enforcement
        assert d.severity == CONTROLS[d.policy_name].severity


def bucket_stack(**changes: Any) -> list[AnalyzedResource]:
    bucket = res("aws:s3/bucket:Bucket", "b", {"bucket": "models", "tags": {}})
    parts = {
        "sse": res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "sse",
            {
                "bucket": "x",
                "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}}],
            },
            dependencies=(bucket.urn,),
        ),
        "pab": res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "pab",
            {
                "bucket": "x",
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            dependencies=(bucket.urn,),
        ),
        "policy": res(
            "aws:s3/bucketPolicy:BucketPolicy",
            "pol",
            {
                "bucket": "x",
                "policy": json.dumps(
                    {"Statement": [{"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
                ),
            },
            dependencies=(bucket.urn,),
        ),
        "versioning": res(
            "aws:s3/bucketVersioning:BucketVersioning",
            "ver",
            {"bucket": "x", "versioningConfiguration": {"status": "Enabled"}},
            dependencies=(bucket.urn,),
        ),
    }
    for key, value in changes.items():
        if value is None:
            del parts[key]
        else:
            parts[key] = value
    return [bucket, *parts.values()]


def test_s3_compliant_bucket_passes(eu: PolicyPackProcess) -> None:
    assert eu.analyze_stack(bucket_stack()) == []


@pytest.mark.parametrize("missing", ["sse", "pab", "policy", "versioning"])
def test_s3_bucket_missing_a_safeguard_fails(eu: PolicyPackProcess, missing: str) -> None:
    diagnostics = eu.analyze_stack(bucket_stack(**{missing: None}))
    assert names(diagnostics) == ["s3-encryption-and-access"]
    assert diagnostics[0].urn.endswith("::b")


def test_s3_key_in_another_region_and_foreign_replication_fail(eu: PolicyPackProcess) -> None:
    stack = bucket_stack()
    bucket = stack[0]
    sse = res(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "sse",
        {
            "rules": [
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": "arn:aws:kms:us-east-1:1:key/k",
                    }
                }
            ]
        },
        dependencies=(bucket.urn,),
    )
    replication = res(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "rep",
        {"rules": [{"destination": {"bucket": "arn:aws:s3:::elsewhere"}}]},
        dependencies=(bucket.urn,),
    )
    messages = [d.message for d in eu.analyze_stack([*bucket_stack(sse=sse), replication])]
    assert any("us-east-1" in m for m in messages)
    assert any("elsewhere" in m for m in messages)


# --- security groups that guard nothing -------------------------------------------------------------------------

SG_TYPE = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "no-open-inference-ingress"


def ingress_findings(pack: PolicyPackProcess, resources: list[AnalyzedResource]) -> list[Diagnostic]:
    diagnostics = pack.analyze_stack(resources)
    assert not [d for d in diagnostics if "can't run policy" in d.message], [d.message for d in diagnostics]
    return [d for d in diagnostics if d.policy_name == INGRESS]


def onprem_group(**props: Any) -> AnalyzedResource:
    return res(SG_TYPE, "onprem-inference", {**SG, "vpcId": "vpc-1", "tags": {}, **props})


def users_of(group: AnalyzedResource) -> dict[str, AnalyzedResource]:
    """One resource of each kind that puts ``group`` on its own traffic (by reference, as Pulumi records it)."""
    deps = (group.urn,)
    return {
        "internal NLB": res(
            "aws:lb/loadBalancer:LoadBalancer",
            "nlb",
            {"loadBalancerType": "network", "internal": True, "securityGroups": ["sg-1"], "tags": {}},
            dependencies=deps,
        ),
        "launch template": res(
            "aws:ec2/launchTemplate:LaunchTemplate", "lt", {**LT, "vpcSecurityGroupIds": ["sg-1"]}, dependencies=deps
        ),
        "launch template ENI": res(
            "aws:ec2/launchTemplate:LaunchTemplate",
            "lt",
            {**LT, "networkInterfaces": [{"deviceIndex": 0, "securityGroups": ["sg-1"]}]},
            dependencies=deps,
        ),
        "EKS cluster": res(
            "aws:eks/cluster:Cluster",
            "c",
            {**EKS_CLUSTER, "vpcConfig": {"endpointPublicAccess": False, "securityGroupIds": ["sg-1"]}},
            dependencies=deps,
        ),
        "interface endpoint": res(
            "aws:ec2/vpcEndpoint:VpcEndpoint",
            "vpce",
            {"vpcEndpointType": "Interface", "securityGroupIds": ["sg-1"], "tags": {}},
            dependencies=deps,
        ),
        "LB controller Service": res(
            "kubernetes:core/v1:Service",
            "svc",
            {
                "metadata": {
                    "name": "s",
                    "labels": TAGS,
                    "annotations": {"service.beta.kubernetes.io/aws-load-balancer-security-groups": "sg-1"},
                }
            },
            EKS,
            dependencies=deps,
        ),
    }


def test_a_group_on_the_inference_ports_that_nothing_uses_fails(eu: PolicyPackProcess) -> None:
    group = onprem_group()
    [finding] = ingress_findings(eu, [group])
    assert finding.urn == group.urn and finding.enforcement_level == "mandatory"
    assert "admits traffic to inference port(s) [8000] but no resource in the stack uses the group" in finding.message
    # Depending on the group is not using it: another group naming it as the *source* of a rule guards nothing.
    sourcing = res(
        SG_TYPE,
        "db",
        {"ingress": [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "securityGroups": ["sg-1"]}], "tags": {}},
        dependencies=(group.urn,),
    )
    assert [d.urn for d in ingress_findings(eu, [group, sourcing])] == [group.urn]


@pytest.mark.parametrize("user", list(users_of(onprem_group())))
def test_a_group_something_uses_passes(eu: PolicyPackProcess, user: str) -> None:
    group = onprem_group()
    assert ingress_findings(eu, [group, users_of(group)[user]]) == []


def test_a_group_named_by_its_id_passes(eu: PolicyPackProcess) -> None:
    # After an update the engine knows the group's id; a user naming that id needs no dependency.
    group = onprem_group(id="sg-0abc")
    instance = res(
        "aws:ec2/instance:Instance",
        "i",
        {
            "metadataOptions": {"httpTokens": "required"},
            "rootBlockDevice": {"encrypted": True},
            "vpcSecurityGroupIds": ["sg-0abc"],
            "tags": {},
        },
    )
    assert ingress_findings(eu, [group, instance]) == []
    stranger = res("aws:ec2/instance:Instance", "i", {**instance.properties, "vpcSecurityGroupIds": ["sg-0other"]})
    assert len(ingress_findings(eu, [group, stranger])) == 1


def test_a_standalone_rule_on_an_unused_group_fails(eu: PolicyPackProcess) -> None:
    group = res(SG_TYPE, "bare", {"vpcId": "vpc-1", "tags": {}})
    rule = res(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "r",
        {
            "securityGroupId": "sg-1",
            "ipProtocol": "tcp",
            "fromPort": 8000,
            "toPort": 8000,
            "cidrIpv4": "10.10.0.0/16",
            "tags": {},
        },
        dependencies=(group.urn,),
    )
    assert ingress_findings(eu, [group]) == []  # no rule on an inference port: not this control's business
    [finding] = ingress_findings(eu, [group, rule])
    assert finding.urn == group.urn and "[8000]" in finding.message
    assert ingress_findings(eu, [group, rule, users_of(group)["internal NLB"]]) == []


def test_the_default_group_is_always_in_use(eu: PolicyPackProcess) -> None:
    # Every interface created without groups gets the VPC's default group.
    default = res("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "default", {**SG, "tags": {}})
    assert ingress_findings(eu, [default]) == []


def test_preview_unknowns_leave_the_check_on(eu: PolicyPackProcess) -> None:
    """During a preview ids and much else are unknown: a user whose group list is unknown still counts (by
    dependency), and unknown values elsewhere neither hide an unused group nor turn the check off."""
    group = onprem_group(vpcId=UNKNOWN_STRING_VALUE, id=UNKNOWN_STRING_VALUE)
    nlb = res(
        "aws:lb/loadBalancer:LoadBalancer",
        "nlb",
        {"securityGroups": [UNKNOWN_STRING_VALUE], "subnets": UNKNOWN_ARRAY_VALUE, "tags": {}},
        dependencies=(group.urn,),
    )
    assert ingress_findings(eu, [group, nlb]) == []
    lonely_nlb = res("aws:lb/loadBalancer:LoadBalancer", "nlb", {"securityGroups": UNKNOWN_ARRAY_VALUE, "tags": {}})
    assert [d.urn for d in ingress_findings(eu, [group, lonely_nlb])] == [group.urn]


def test_namespace_needs_default_deny(eu: PolicyPackProcess) -> None:
    namespace = res("kubernetes:core/v1:Namespace", "ns", NS)
    deny = res("kubernetes:networking.k8s.io/v1:NetworkPolicy", "deny", DENY)
    [violation] = eu.analyze_stack([namespace])
    assert violation.policy_name == "namespace-default-deny"
    assert eu.analyze_stack([namespace, deny]) == []


def test_stack_single_jurisdiction(pack: PolicyPackProcess) -> None:
    configure(pack, stackJurisdiction="")
    eu_vpc = res("aws:ec2/vpc:Vpc", "a", {"tags": {}})
    uae_vpc = res("aws:ec2/vpc:Vpc", "b", {"tags": {}}, aws_provider("me-central-1", {**TAGS, "data-residency": "uae"}))
    assert pack.analyze_stack([eu_vpc]) == []
    assert names(pack.analyze_stack([eu_vpc, eu_vpc, uae_vpc])) == ["stack-single-jurisdiction"]


def test_thresholds_are_policy_config(pack: PolicyPackProcess) -> None:
    log = res("aws:cloudwatch/logGroup:LogGroup", "lg", {**LOG, "retentionInDays": 400})
    configure(pack)
    assert names(pack.analyze(log)) == ["log-encryption-retention"]
    pack.configure({"log-encryption-retention": {"maxRetentionDays": 400, "today": TODAY}})
    assert pack.analyze(log) == []


# --- exemptions -------------------------------------------------------------------------------------------------


def test_exemption_parser() -> None:
    from datetime import date

    valid = parse_exemption("vpn-crypto", "2026-12-31 peer upgrade CHG-42 by @ops", date(2026, 6, 1))
    assert valid.state == "valid" and valid.reason == "peer upgrade CHG-42 by @ops"
    assert parse_exemption("vpn-crypto", "2026-01-01 old", date(2026, 6, 1)).state == "expired"
    assert parse_exemption("vpn-crypto", "someday; because", date(2026, 6, 1)).state == "malformed"
    message = exempt_message(valid, "tunnel1: IKE versions ['ikev1']")
    parsed = parse_exempt_message("description line\n" + message)
    assert parsed is not None and parsed.control == "vpn-crypto" and parsed.reason == valid.reason


def _exempted_log(value: str) -> AnalyzedResource:
    return res(
        "aws:cloudwatch/logGroup:LogGroup",
        "lg",
        {**LOG, "retentionInDays": 3653, "tags": {"policy-exemption:log-encryption-retention": value}},
    )


def test_valid_exemption_is_reported_as_exempt_not_violation(eu: PolicyPackProcess) -> None:
    log = _exempted_log("2026-12-31 legal hold CASE-7")
    assert eu.analyze(log) == []
    [exempt] = eu.analyze_stack([log])
    assert exempt.policy_name == "policy-exemption"
    assert exempt.enforcement_level == "advisory"
    parsed = parse_exempt_message(exempt.message)
    assert parsed is not None
    assert (parsed.control, parsed.expires, parsed.reason) == (
        "log-encryption-retention",
        "2026-12-31",
        "legal hold CASE-7",
    )


def test_expired_exemption_is_a_violation(eu: PolicyPackProcess) -> None:
    [violation] = eu.analyze(_exempted_log("2026-05-31 legal hold CASE-7"))
    assert violation.policy_name == "log-encryption-retention"
    assert violation.enforcement_level == "mandatory"
    assert "exemption expired on 2026-05-31" in violation.message
    assert eu.analyze_stack([_exempted_log("2026-05-31 legal hold CASE-7")]) == []


def test_kubernetes_annotation_exemption(eu: PolicyPackProcess) -> None:
    props = deployment({"image": "quay.io/x/y:1"})
    props["metadata"]["annotations"] = {
        "policy-exemption.hybrid-llm-infra.io/k8s-pod-security": "2026-07-01 mirror pending"
    }
    d = res("kubernetes:apps/v1:Deployment", "d", props)
    assert eu.analyze(d) == []
    [exempt] = eu.analyze_stack([d])
    assert exempt.policy_name == "policy-exemption" and "quay.io" in exempt.message


def test_every_policy_names_a_control_with_its_metadata(pack: PolicyPackProcess) -> None:
    info = pack.info()
    assert info.name == "data-residency"
    for policy in info.policies:
        control = CONTROLS[policy.name]
        assert policy.severity == control.severity
        assert policy.enforcement_level == control.enforcement
        assert policy.config_schema is not None and "today" in policy.config_schema.properties


# --- infra check ------------------------------------------------------------------------------------------------


def infra_check(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", "check", "--project-dir", str(project), *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


def test_shipped_stacks_have_zero_mandatory_violations() -> None:
    done = infra_check(ROOT, "--format", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    for stack in doc["stacks"]:
        assert [v for v in stack["violations"] if v["enforcement"] == "mandatory" and not v["exempt"]] == []
        statuses = {p["name"]: p["status"] for p in stack["policies"]}
        assert set(statuses.values()) <= {"pass", "exempt"}
        assert "vpn-crypto" in statuses


def _broken_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(
        ROOT,
        project,
        ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache"),
    )
    return project


def test_broken_stack_yields_exactly_the_expected_violations(tmp_path: Path) -> None:
    project = _broken_project(tmp_path)
    # Retention above the pack's maximum (365 days) on the Frankfurt flow logs.
    stack_file = project / "Pulumi.frankfurt.yaml"
    text = stack_file.read_text()
    assert "flowLogRetentionDays: 365" in text
    stack_file.write_text(text.replace("flowLogRetentionDays: 365", "flowLogRetentionDays: 731"))
    done = infra_check(project, "frankfurt", "--format", "json")
    assert done.returncode in (1, 2), done.stderr[-3000:]
    if done.returncode == 2:
        pytest.skip(f"the stack config refuses the value before the pack sees it: {done.stderr[-500:]}")
    [stack] = json.loads(done.stdout)["stacks"]
    found = [(v["policy"], v["urn"].rsplit("::", 1)[-1], v["enforcement"]) for v in stack["violations"]]
    assert found == [("log-encryption-retention", "frankfurt-flow-logs", "mandatory")]
    assert "731 days exceeds the maximum of 365" in stack["violations"][0]["message"]
    assert {p["name"]: p["status"] for p in stack["policies"]}["log-encryption-retention"] == "fail"


def test_no_policy_skips_the_pack() -> None:
    done = infra_check(ROOT, "onprem", "--format", "json", "--no-policy")
    assert done.returncode == 0, done.stderr[-2000:]
    assert all("violations" not in s for s in json.loads(done.stdout)["stacks"])


def test_sarif_validates_against_the_schema(tmp_path: Path) -> None:
    schema_path = ROOT.parent / "shared" / "schemas" / "sarif-2.1.0.schema.json"
    if not schema_path.is_file():
        pytest.skip("no SARIF schema in ../shared/schemas")
    import jsonschema

    out = tmp_path / "report.sarif"
    done = infra_check(ROOT, "onprem", "--format", "sarif", "--output", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, json.loads(schema_path.read_text()))
    rules = {r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert "vpn-crypto" in rules and "residency-tags" in rules


def test_markdown_report(tmp_path: Path) -> None:
    done = infra_check(ROOT, "onprem", "--format", "markdown")
    assert done.returncode == 0
    assert "# Compliance report" in done.stdout and "GDPR Art. 44-46" in done.stdout
