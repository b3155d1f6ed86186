"""Where data lives: residency tags, tag vs location, region vs jurisdiction, restricted data, one jurisdiction."""

from __future__ import annotations

from collections import Counter

from policies.rules.base import Config, View, resource_policy, stack_policy
from residency import JURISDICTIONS, ONPREM_ONLY_CLASSIFICATIONS, REQUIRED_TAG_KEYS, TAG_DATA_RESIDENCY

# AWS resource types that take tags although a program may leave ``tags`` out (the provider's default tags
# then apply).  A resource whose inputs carry ``tags`` is taggable whatever its type.
TAGGABLE_AWS = frozenset(
    {
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ec2/customerGateway:CustomerGateway",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/eip:Eip",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/instance:Instance",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/volume:Volume",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ec2/vpnConnection:VpnConnection",
        "aws:ec2/vpnGateway:VpnGateway",
        "aws:eks/addon:Addon",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    }
)


_API_TYPES = ("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",)
"""CustomResourceDefinitions: cluster-wide API types, holding no data (the vendored Gateway API and Envoy Gateway
CRDs the front door installs unchanged; charts' CRDs are inside their releases and never seen here)."""


def _taggable(view: View) -> bool:
    if view.is_aws:
        return "tags" in view.props or view.type in TAGGABLE_AWS
    return view.is_k8s and view.type not in _API_TYPES


@resource_policy("residency-tags", types=("aws:", "kubernetes:"))
def residency_tags(view: View, config: Config) -> list[str]:
    if not _taggable(view):
        return []
    markers = view.residency_markers()
    missing = [key for key in REQUIRED_TAG_KEYS if not markers.get(key)]
    if not missing:
        return []
    what = "tags (resource or provider default tags)" if view.is_aws else "labels"
    return [f"{view.name} ({view.type}) is missing required {what}: {', '.join(missing)}"]


@resource_policy("residency-matches-location", types=("aws:", "kubernetes:"))
def residency_matches_location(view: View, config: Config) -> list[str]:
    if not _taggable(view):
        return []
    value = view.residency
    if not value:
        return []  # residency-tags reports the missing tag
    where, jurisdiction = view.location(config)
    if jurisdiction is None:
        return [f"{view.name} is tagged {TAG_DATA_RESIDENCY}={value} but runs in {where}, outside every jurisdiction"]
    if value != jurisdiction.residency_value:
        return [
            f"{view.name} is tagged {TAG_DATA_RESIDENCY}={value} but runs in {where} "
            f"({jurisdiction.id}: expected {TAG_DATA_RESIDENCY}={jurisdiction.residency_value})"
        ]
    return []


@resource_policy("region-in-jurisdiction", types=("aws:", "kubernetes:"))
def region_in_jurisdiction(view: View, config: Config) -> list[str]:
    stack = config.stack_jurisdiction
    if stack is None:
        return []
    where, jurisdiction = view.location(config)
    if view.is_aws and not view.aws_region(config):
        return []
    if jurisdiction is None or jurisdiction.id != stack.id:
        allowed = ", ".join(sorted(stack.aws_regions))
        return [f"{view.name} runs in {where}, outside the stack's jurisdiction {stack.id} (AWS regions: {allowed})"]
    return []


@resource_policy("restricted-data-onprem-only", types=("aws:", "kubernetes:"))
def restricted_data_onprem_only(view: View, config: Config) -> list[str]:
    classification = view.classification
    if classification not in ONPREM_ONLY_CLASSIFICATIONS or not view.on_aws():
        return []
    where, _ = view.location(config)
    return [f"{view.name} is classified {classification!r} but runs in {where}; restricted data stays on-prem"]


@stack_policy("stack-single-jurisdiction")
def stack_single_jurisdiction(views: list[View], config: Config) -> list[tuple[View | None, str]]:
    """Every resource of the stack carries (and sits in) the same jurisdiction."""
    by_value = {j.residency_value: j.id for j in JURISDICTIONS.values()}
    marked: list[tuple[View, str]] = []
    for view in views:
        if not (view.is_aws or view.is_k8s):
            continue
        value = view.residency
        if isinstance(value, str) and value:
            marked.append((view, by_value.get(value, value)))
        _, jurisdiction = view.location(config)
        if jurisdiction is not None and (view.is_k8s or view.aws_region(config)):
            marked.append((view, jurisdiction.id))
    if not marked:
        return []
    expected = (
        config.stack_jurisdiction.id
        if config.stack_jurisdiction
        else Counter(j for _, j in marked).most_common(1)[0][0]
    )
    out: list[tuple[View | None, str]] = []
    seen: set[tuple[str, str]] = set()
    for view, jurisdiction_id in marked:
        if jurisdiction_id != expected and (view.urn, jurisdiction_id) not in seen:
            seen.add((view.urn, jurisdiction_id))
            out.append(
                (view, f"{view.name} belongs to jurisdiction {jurisdiction_id}; the rest of the stack is {expected}")
            )
    return out
