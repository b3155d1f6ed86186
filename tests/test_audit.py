"""``infra audit`` under moto (in process): every planted finding is found, no compliant resource is flagged.

moto marks me-central-1 "not-opted-in"; the scenario opts the account in (as ours is, for the Dubai stack)
by flipping moto's recorded status for the duration of a test. moto returns no VgwTelemetry for VPN
connections, so the tunnel-down rule runs on a stubbed DescribeVpnConnections answer (botocore Stubber).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from infra.audit import rules
from infra.audit.iam_policy import AUDIT_CALLS, api_call, iam_policy
from infra.audit.scan import Api, _scan_region, run_audit
from infra.render.markdown import render_markdown
from infra.render.report_json import report_dict
from infra.render.sarif import render_sarif
from infra.render.terminal import render_report
from infra.report import Report
from residency import REQUIRED_TAG_KEYS, residency_tags
from residency.controls import CONTROLS
from tests.conftest import SHARED_SCHEMAS

ACCOUNT = "123456789012"
REGIONS = ["eu-central-1", "me-central-1", "us-east-1"]
EU_TAGS = residency_tags(
    jurisdiction="EU", classification="confidential", owner="ml-platform", cost_center="cc-42", environment="production"
)
UAE_TAGS = {**EU_TAGS, "data-residency": "uae"}
ALL_BLOCKS = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@contextmanager
def _moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, moto in process, and the account opted in to me-central-1."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    for region in RegionsAndZonesBackend.regions:
        if region.name == "me-central-1":
            monkeypatch.setattr(region, "opt_in_status", "opted-in")
    with mock_aws():
        yield


@dataclass
class Planted:
    expected: Counter[tuple[str, str, str]]
    arns: dict[str, set[str]]
    report: Report
    calls: set[tuple[str, str]]


@pytest.fixture(scope="module")
def planted() -> Iterator[Planted]:
    """One account with every kind of finding next to compliant resources, audited once (planting costs seconds)."""
    with pytest.MonkeyPatch.context() as monkeypatch, _moto(monkeypatch):
        expected, arns = _plant()
        calls: set[tuple[str, str]] = set()
        session = boto3.session.Session()

        def record(model: Any, **_: Any) -> None:
            calls.add((model.service_model.service_name, model.name))

        session.events.register("before-call", record)
        yield Planted(expected, arns, run_audit(session=session, regions=REGIONS), calls)


def _tagset(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _bucket(
    name: str,
    region: str,
    tags: dict[str, str] | None,
    *,
    kms: bool = True,
    blocks: dict[str, bool] | None = None,
    replicate_to: str | None = None,
) -> str:
    s3 = boto3.client("s3", region_name=region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tagset(tags)})
    default = (
        {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": f"arn:aws:kms:{region}:{ACCOUNT}:key/stack-key"}
        if kms
        else {"SSEAlgorithm": "AES256"}
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]},
    )
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=blocks or ALL_BLOCKS)
    if replicate_to:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_replication(
            Bucket=name,
            ReplicationConfiguration={
                "Role": f"arn:aws:iam::{ACCOUNT}:role/replication",
                "Rules": [
                    {
                        "ID": "all",
                        "Priority": 1,
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": {"Bucket": f"arn:aws:s3:::{replicate_to}"},
                    }
                ],
            },
        )
    return f"arn:aws:s3:::{name}"


def _cluster(name: str, region: str, tags: dict[str, str], *, public: bool, cidrs: list[str] | None = None) -> str:
    vpc: dict[str, Any] = {"subnetIds": ["subnet-1", "subnet-2"], "endpointPublicAccess": public}
    if cidrs is not None:
        vpc["publicAccessCidrs"] = cidrs
    eks = boto3.client("eks", region_name=region)
    cluster = eks.create_cluster(
        name=name, roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks", resourcesVpcConfig=vpc, tags=tags
    )["cluster"]
    return str(cluster["arn"])


def _vpn(region: str, tags: dict[str, str]) -> str:
    ec2 = boto3.client("ec2", region_name=region)
    cgw = ec2.create_customer_gateway(BgpAsn=65010, PublicIp="198.51.100.7", Type="ipsec.1")["CustomerGateway"]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]
    vpn = ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=cgw["CustomerGatewayId"],
        VpnGatewayId=vgw["VpnGatewayId"],
        TagSpecifications=[{"ResourceType": "vpn-connection", "Tags": _tagset(tags)}],
    )["VpnConnection"]
    return f"arn:aws:ec2:{region}:{ACCOUNT}:vpn-connection/{vpn['VpnConnectionId']}"


def _vpc(region: str, tags: dict[str, str]) -> str:
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(
        CidrBlock="10.20.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": _tagset(tags)}],
    )["Vpc"]
    return f"arn:aws:ec2:{region}:{ACCOUNT}:vpc/{vpc['VpcId']}"


def _plant() -> tuple[Counter[tuple[str, str, str]], dict[str, set[str]]]:
    """Compliant resources next to one of each finding; returns (expected findings, every ARN per region)."""
    arns: dict[str, set[str]] = {r: set() for r in REGIONS}
    expected: Counter[tuple[str, str, str]] = Counter()

    def plant(region: str, arn: str, *controls: str) -> None:
        arns[region].add(arn)
        for control_id in controls:
            expected[(control_id, arn, region)] += 1

    # compliant
    plant("eu-central-1", _bucket("good-eu", "eu-central-1", EU_TAGS, replicate_to="good-eu-replica"))
    _bucket("good-eu-replica", "eu-west-1", EU_TAGS)  # same jurisdiction, another region (not in REGIONS)
    plant("me-central-1", _bucket("good-uae", "me-central-1", UAE_TAGS))
    plant("me-central-1", _bucket("uae-replica-target", "me-central-1", UAE_TAGS))
    plant("eu-central-1", _cluster("private-eks", "eu-central-1", EU_TAGS, public=False))
    plant("eu-central-1", _cluster("allowlisted-eks", "eu-central-1", EU_TAGS, public=True, cidrs=["203.0.113.0/24"]))
    plant("me-central-1", _cluster("uae-eks", "me-central-1", UAE_TAGS, public=False))
    plant("eu-central-1", _vpn("eu-central-1", EU_TAGS))
    plant("eu-central-1", _vpc("eu-central-1", EU_TAGS))
    plant("me-central-1", _vpc("me-central-1", UAE_TAGS))

    # one of each finding
    plant("us-east-1", _bucket("outside-us", "us-east-1", EU_TAGS), "region-in-jurisdiction")
    partial = {k: v for k, v in EU_TAGS.items() if k not in ("owner", "cost-center")}
    plant("eu-central-1", _bucket("missing-tags", "eu-central-1", partial), "residency-tags")
    plant("eu-central-1", _bucket("no-tags-at-all", "eu-central-1", None), "residency-tags")
    plant("eu-central-1", _vpc("eu-central-1", {"owner": "someone"}), "residency-tags")
    plant("me-central-1", _bucket("uae-tagged-eu", "me-central-1", EU_TAGS), "residency-matches-location")
    plant("me-central-1", _vpc("me-central-1", EU_TAGS), "residency-matches-location")
    plant("eu-central-1", _bucket("sse-s3-only", "eu-central-1", EU_TAGS, kms=False), "s3-encryption-and-access")
    three = {**ALL_BLOCKS, "RestrictPublicBuckets": False}
    plant("eu-central-1", _bucket("partial-pab", "eu-central-1", EU_TAGS, blocks=three), "s3-encryption-and-access")
    plant(
        "eu-central-1",
        _bucket("replicates-to-uae", "eu-central-1", EU_TAGS, replicate_to="uae-replica-target"),
        "s3-encryption-and-access",
    )
    plant(
        "eu-central-1",
        _cluster("public-eks", "eu-central-1", EU_TAGS, public=True, cidrs=["0.0.0.0/0"]),
        "eks-hardening",
    )
    plant("eu-central-1", _cluster("default-open-eks", "eu-central-1", EU_TAGS, public=True), "eks-hardening")
    restricted = {**EU_TAGS, "data-classification": "restricted"}
    plant("eu-central-1", _vpc("eu-central-1", restricted), "restricted-data-onprem-only")
    return expected, arns


def _found(report: Report) -> Counter[tuple[str, str, str]]:
    return Counter((f.control, f.location, f.scope) for s in report.scopes for f in s.findings)


def test_every_planted_finding_is_found_and_nothing_compliant_is_flagged(planted: Planted) -> None:
    expected, arns, report = planted.expected, planted.arns, planted.report

    assert _found(report) == expected  # exact: nothing missing, nothing extra
    by_scope = {s.name: s for s in report.scopes}
    assert [s.name for s in report.scopes] == ["global", *REGIONS]
    for region in REGIONS:
        assert set(by_scope[region].checked) == arns[region], region
        assert len(by_scope[region].checked) == len(arns[region])
    for scope in report.scopes:
        for finding in scope.findings:
            assert finding.control in CONTROLS and finding.status == "fail"
            assert finding.enforcement == CONTROLS[finding.control].enforcement
            assert CONTROLS[finding.control].remediation in finding.message
            assert finding.location.startswith("arn:aws:")
    # the articles are the law of the resource's jurisdiction
    uae = next(f for f in by_scope["me-central-1"].findings if "uae-tagged-eu" in f.location)
    assert "[UAE PDPL Art. 22-23]" in uae.message and "GDPR" not in uae.message
    outside = next(f for f in by_scope["us-east-1"].findings)
    assert "GDPR Art. 44-46; UAE PDPL Art. 22-23" in outside.message
    # the regions outside the requested ones are neither scanned nor reported as gaps
    assert by_scope["global"].not_scanned == []
    # moto gives no VgwTelemetry: the tunnel status is a stated gap, not a silent pass
    (vpn_arn,) = (a for a in arns["eu-central-1"] if ":vpn-connection/" in a)
    assert by_scope["eu-central-1"].not_scanned == [
        f"tunnel status of {vpn_arn}: the endpoint returned no VgwTelemetry"
    ]


def test_messages_name_what_is_wrong(planted: Planted) -> None:
    report = planted.report
    messages = {(f.location.rsplit(":", 1)[-1], f.control): f.message for s in report.scopes for f in s.findings}
    assert "missing required tag(s): owner, cost-center." in messages[("missing-tags", "residency-tags")]
    assert "found: AES256" in messages[("sse-s3-only", "s3-encryption-and-access")]
    assert "not set: RestrictPublicBuckets." in messages[("partial-pab", "s3-encryption-and-access")]
    assert (
        "arn:aws:s3:::uae-replica-target in me-central-1" in messages[("replicates-to-uae", "s3-encryption-and-access")]
    )
    assert "0.0.0.0/0" in messages[("cluster/public-eks", "eks-hardening")]


def test_default_scans_every_enabled_region_and_names_the_rest(planted: Planted) -> None:
    enabled = boto3.client("ec2", region_name="us-east-1").describe_regions(AllRegions=True)["Regions"]
    session = boto3.session.Session()
    aws_partition = [r for r in enabled if session.get_partition_for_region(r["RegionName"]) == "aws"]
    expected_scanned = sorted(r["RegionName"] for r in aws_partition if r["OptInStatus"] != "not-opted-in")
    expected_gaps = sorted(r["RegionName"] for r in enabled if r["RegionName"] not in expected_scanned)
    assert "me-central-1" in expected_scanned and "me-south-1" in expected_gaps and "cn-north-1" in expected_gaps

    started = time.monotonic()
    report = run_audit()
    elapsed = time.monotonic() - started

    assert [s.name for s in report.scopes] == ["global", *expected_scanned]
    gaps = report.scopes[0].not_scanned
    assert sorted(note.split(":", 1)[0] for note in gaps) == expected_gaps
    assert "me-south-1: region not enabled (opt-in status not-opted-in)" in gaps
    assert "cn-north-1: partition aws-cn, credentials are for aws" in gaps
    # every region scanned: the same findings as the three-region audit, and the compliant replica in
    # eu-west-1 (outside those three) is examined and passes
    assert _found(report) == planted.expected
    eu_west_1 = next(s for s in report.scopes if s.name == "eu-west-1")
    assert eu_west_1.checked == ["arn:aws:s3:::good-eu-replica"] and eu_west_1.findings == []
    assert elapsed < 90, elapsed


def test_every_api_call_the_scanner_makes_is_in_the_iam_policy(planted: Planted) -> None:
    made = planted.calls  # recorded by botocore's before-call event, beneath the scanner's own check
    actions = set(iam_policy()["Statement"][0]["Action"])  # type: ignore[index]
    for service, operation in made:
        assert api_call(service, operation).action in actions
    # and the list holds nothing the scanner never calls (the scenario exercises every call)
    assert made == {(c.client, c.operation) for c in AUDIT_CALLS}
    assert all(a.split(":")[1].startswith(("Get", "List", "Describe")) for a in actions)  # read-only


def test_a_call_outside_the_list_is_refused() -> None:
    api = Api(boto3.session.Session(region_name="us-east-1"))
    with pytest.raises(KeyError, match="AUDIT_CALLS"):
        api.call("s3", "us-east-1", "DeleteBucket", Bucket="x")


def test_access_denied_is_reported_as_not_scanned(planted: Planted, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Api.items

    def denied(self: Api, service: str, region: str, operation: str, key: str, **params: Any) -> Iterator[Any]:
        if service == "eks" and region == "eu-central-1":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, operation)
        yield from original(self, service, region, operation, key, **params)

    monkeypatch.setattr(Api, "items", denied)
    report = run_audit(regions=["eu-central-1"])
    scope = next(s for s in report.scopes if s.name == "eu-central-1")
    assert scope.not_scanned[0] == "eks:ListClusters: AccessDeniedException (no)"
    clusters = {a for a in planted.arns["eu-central-1"] if ":cluster/" in a}
    assert set(scope.checked) == planted.arns["eu-central-1"] - clusters
    assert not any(f.control == "eks-hardening" for f in scope.findings)


def test_vpn_tunnel_down_on_a_stubbed_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto cannot represent tunnel status: the region scan runs on stubbed clients instead."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    region = "eu-central-1"
    api = Api(boto3.session.Session(region_name=region))
    stubs = []
    for service, operation, answer in [
        ("resourcegroupstaggingapi", "get_resources", {"ResourceTagMappingList": []}),
        ("eks", "list_clusters", {"clusters": []}),
        (
            "ec2",
            "describe_vpn_connections",
            {
                "VpnConnections": [
                    {
                        "VpnConnectionId": "vpn-0down",
                        "State": "available",
                        "Type": "ipsec.1",
                        "CustomerGatewayId": "cgw-1",
                        "Tags": _tagset(EU_TAGS),
                        "VgwTelemetry": [
                            {"OutsideIpAddress": "3.120.0.1", "Status": "UP"},
                            {"OutsideIpAddress": "3.120.0.2", "Status": "DOWN", "StatusMessage": "IPSEC IS DOWN"},
                        ],
                    },
                    {
                        "VpnConnectionId": "vpn-0up",
                        "State": "available",
                        "Type": "ipsec.1",
                        "CustomerGatewayId": "cgw-2",
                        "Tags": _tagset(EU_TAGS),
                        "VgwTelemetry": [
                            {"OutsideIpAddress": "3.120.0.3", "Status": "UP"},
                            {"OutsideIpAddress": "3.120.0.4", "Status": "UP"},
                        ],
                    },
                    {"VpnConnectionId": "vpn-0gone", "State": "deleted", "Type": "ipsec.1", "CustomerGatewayId": "c"},
                ]
            },
        ),
    ]:
        client = api.client(service, region)
        stub = Stubber(client)
        stub.add_response(operation, answer)
        stub.activate()
        stubs.append(stub)

    result = _scan_region(api, region, ACCOUNT, "aws")

    for stub in stubs:
        stub.assert_no_pending_responses()
    down = f"arn:aws:ec2:{region}:{ACCOUNT}:vpn-connection/vpn-0down"
    up = f"arn:aws:ec2:{region}:{ACCOUNT}:vpn-connection/vpn-0up"
    assert [(f.control, f.location, f.enforcement) for f in result.scope.findings] == [
        ("vpn-tunnel-up", down, "advisory")
    ]
    assert "3.120.0.2 (IPSEC IS DOWN)" in result.scope.findings[0].message
    assert sorted(result.resources) == sorted([down, up])
    assert result.scope.not_scanned == []


def test_rules_on_plain_answers() -> None:
    eu = rules.Resource("arn:aws:s3:::b", "eu-central-1", dict(EU_TAGS))
    assert rules.tag_findings(eu) == []
    assert (
        rules.s3_encryption_finding(
            eu, {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse"}}]}
        )
        is None
    )
    assert rules.s3_encryption_finding(eu, None) is not None
    assert rules.s3_public_access_finding(eu, None) is not None
    assert rules.s3_replication_finding(eu, "arn:aws:s3:::x", "eu-west-3") is None
    assert rules.s3_replication_finding(eu, "arn:aws:s3:::x", "us-east-1") is not None
    assert rules.eks_endpoint_finding(
        "arn", "eu-central-1", {"endpointPublicAccess": True, "publicAccessCidrs": ["::/0"]}
    )
    unknown = rules.Resource("arn:aws:ec2:eu-west-1:1:vpc/v", "eu-west-1", {**EU_TAGS, "data-residency": "us"})
    assert [f.control for f in rules.tag_findings(unknown)] == ["residency-matches-location"]
    unreadable = rules.Resource("arn:aws:s3:::c", "eu-west-1", None)
    assert rules.tag_findings(unreadable) == []
    missing_all = rules.tag_findings(rules.Resource("arn:aws:iam::1:role/r", rules.GLOBAL, {}))
    assert [f.control for f in missing_all] == ["residency-tags"]
    assert all(key in missing_all[0].message for key in REQUIRED_TAG_KEYS)


def test_every_renderer_reads_the_audit_report(planted: Planted) -> None:
    expected, report = planted.expected, planted.report
    doc = report_dict(report)
    scopes: list[dict[str, Any]] = doc["scopes"]  # type: ignore[assignment]
    assert sum(len(s["findings"]) for s in scopes) == sum(expected.values())
    json.dumps(doc)
    text = render_report(report)
    assert "arn:aws:s3:::outside-us" in text and "not scanned: tunnel status of" in text
    markdown = render_markdown(report)
    assert "## me-central-1" in markdown and "`arn:aws:s3:::uae-tagged-eu`" in markdown
    sarif = json.loads(render_sarif(report))
    results = sarif["runs"][0]["results"]
    assert Counter(
        (r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]) for r in results
    ) == Counter((c, a) for c, a, _ in expected.elements())
    # the not-scanned notes travel as tool execution notifications (test_audit_exemptions.py tests the shape)
    notes = [n["message"]["text"] for n in sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]]
    assert notes == [f"[{s.name}] not scanned: {note}" for s in report.scopes for note in s.not_scanned] != []
    schema = SHARED_SCHEMAS / "sarif-2.1.0.schema.json"
    if not schema.is_file():
        pytest.skip("../shared/schemas is absent in this clone")
    jsonschema.validate(sarif, json.loads(schema.read_text()))


def test_readme_prints_the_policy_the_audit_needs() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The IAM policy", 1)[1]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(block) == iam_policy()


def test_pages_are_followed_and_throttling_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every page of the tagging API and of ListClusters is read (stubbed answers with continuation tokens)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    region = "me-central-1"
    api = Api(boto3.session.Session(region_name=region))
    tagging = api.client("resourcegroupstaggingapi", region)
    assert tagging.meta.config.retries == {"mode": "standard", "total_max_attempts": 11}  # max_attempts=10 retries

    def vpc(n: int, tags: dict[str, str]) -> dict[str, Any]:
        return {"ResourceARN": f"arn:aws:ec2:{region}:{ACCOUNT}:vpc/vpc-{n}", "Tags": _tagset(tags)}

    answers: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
        (
            "resourcegroupstaggingapi",
            "get_resources",
            {"ResourceTagMappingList": [vpc(1, UAE_TAGS)], "PaginationToken": "p2"},
            None,
        ),
        (
            "resourcegroupstaggingapi",
            "get_resources",
            {"ResourceTagMappingList": [vpc(2, EU_TAGS)], "PaginationToken": ""},
            {"PaginationToken": "p2"},
        ),
        ("eks", "list_clusters", {"clusters": ["one"], "nextToken": "n2"}, None),
        ("eks", "list_clusters", {"clusters": ["two"]}, {"nextToken": "n2"}),
        ("ec2", "describe_vpn_connections", {"VpnConnections": []}, None),
    ]
    for name in ("one", "two"):
        answers.insert(
            4 if name == "one" else 5,
            (
                "eks",
                "describe_cluster",
                {
                    "cluster": {
                        "name": name,
                        "arn": f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{name}",
                        "tags": UAE_TAGS,
                        "resourcesVpcConfig": {
                            "endpointPublicAccess": name == "two",
                            "publicAccessCidrs": ["0.0.0.0/0"],
                        },
                    }
                },
                {"name": name},
            ),
        )
    stubs: dict[str, Stubber] = {}
    for service, operation, answer, params in answers:
        if service not in stubs:
            stubs[service] = Stubber(api.client(service, region))
            stubs[service].activate()
        stubs[service].add_response(operation, answer, params)

    result = _scan_region(api, region, ACCOUNT, "aws")

    for stub in stubs.values():
        stub.assert_no_pending_responses()
    assert sorted(result.resources) == sorted(
        [
            f"arn:aws:ec2:{region}:{ACCOUNT}:vpc/vpc-1",
            f"arn:aws:ec2:{region}:{ACCOUNT}:vpc/vpc-2",
            f"arn:aws:eks:{region}:{ACCOUNT}:cluster/one",
            f"arn:aws:eks:{region}:{ACCOUNT}:cluster/two",
        ]
    )
    assert [(f.control, f.location) for f in result.scope.findings] == [
        ("eks-hardening", f"arn:aws:eks:{region}:{ACCOUNT}:cluster/two")
    ]
    # the page-two VPC says eu in me-central-1: the tag rules see it
    tag_controls = [f.control for r in result.resources.values() for f in rules.tag_findings(r)]
    assert tag_controls == ["residency-matches-location"]
