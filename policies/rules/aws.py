"""AWS security of processing: S3, KMS, EKS, EC2, CloudWatch Logs, Site-to-Site VPN, security groups."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import Config, View, as_list, as_mapping, resource_policy, stack_policy
from residency import jurisdiction_for_region

# --- S3 (a stack policy: a bucket's encryption, access block, policy and versioning are separate resources) ----

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
_S3 = "aws:s3/"


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _policy_document(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return as_mapping(value)


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        return [statements]
    return [as_mapping(s) for s in as_list(statements)]


def _denies_insecure_transport(document: Mapping[str, Any]) -> bool:
    for statement in _statements(document):
        if statement.get("Effect") != "Deny":
            continue
        condition = as_mapping(as_mapping(statement.get("Condition")).get("Bool"))
        if str(condition.get("aws:SecureTransport")).lower() == "false":
            return True
    return False


def _kms_key_region(key: str) -> str | None:
    """The region in a KMS key or alias ARN; None for a bare key id or alias (which is regional: same region)."""
    if key.startswith("arn:"):
        parts = key.split(":")
        return parts[3] if len(parts) > 3 else None
    return None


def _sse_problems(rules: Any, region: str) -> list[str]:
    for rule in as_list(rules):
        default = as_mapping(as_mapping(rule).get("applyServerSideEncryptionByDefault"))
        if default.get("sseAlgorithm") not in ("aws:kms", "aws:kms:dsse"):
            continue
        key = default.get("kmsMasterKeyId")
        if not isinstance(key, str) or not key:
            return ["SSE-KMS uses the AWS-managed key; name a customer-managed key of the bucket's region"]
        key_region = _kms_key_region(key)
        if key_region and region and key_region != region:
            return [f"SSE-KMS key {key} is in {key_region}, not in the bucket's region {region}"]
        return []
    return ["no SSE-KMS default encryption (sseAlgorithm aws:kms with a key in the bucket's region)"]


def _belongs_to(companion: View, bucket: View) -> bool:
    if bucket.urn in companion.dependencies:
        return True
    target = companion.props.get("bucket")
    return isinstance(target, str) and target in (bucket.props.get("bucket"), bucket.props.get("id"), bucket.name)


def _replication_problems(rules: Any, bucket: View, buckets: list[View], config: Config) -> list[str]:
    here = jurisdiction_for_region(bucket.aws_region(config))
    by_arn = {f"arn:aws:s3:::{b.props.get('bucket')}": b for b in buckets if isinstance(b.props.get("bucket"), str)}
    problems = []
    for rule in as_list(rules):
        destination = as_mapping(as_mapping(rule).get("destination")).get("bucket")
        if not isinstance(destination, str):
            continue
        target = by_arn.get(destination)
        if target is None:
            problems.append(f"replicates to {destination}, a bucket outside this stack whose region is unverified")
            continue
        there = jurisdiction_for_region(target.aws_region(config))
        if here is None or there is None or there.id != here.id:
            problems.append(
                f"replicates to {destination} in {target.aws_region(config)}, outside the bucket's jurisdiction"
            )
    return problems


@stack_policy("s3-encryption-and-access")
def s3_encryption_and_access(views: list[View], config: Config) -> list[tuple[View | None, str]]:
    buckets = [v for v in views if v.type in BUCKET_TYPES]
    companions = [v for v in views if v.type.startswith(_S3) and v.type not in BUCKET_TYPES]
    out: list[tuple[View | None, str]] = []
    for bucket in buckets:
        region = bucket.aws_region(config)
        mine = [c for c in companions if _belongs_to(c, bucket)]
        kinds = {c.type.split(":")[-1]: c for c in mine}
        problems: list[str] = []
        # Encryption: a BucketServerSideEncryptionConfiguration(V2), or the bucket's inline configuration.
        sse = kinds.get("BucketServerSideEncryptionConfiguration") or kinds.get(
            "BucketServerSideEncryptionConfigurationV2"
        )
        inline_sse = as_mapping(bucket.props.get("serverSideEncryptionConfiguration")).get("rule")
        if sse is not None:
            problems += _sse_problems(sse.props.get("rules"), region)
        else:
            problems += _sse_problems(as_list(inline_sse) or ([inline_sse] if inline_sse else []), region)
        block = kinds.get("BucketPublicAccessBlock")
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if block is None:
            problems.append("no BucketPublicAccessBlock")
        else:
            off = [flag for flag in flags if not _truthy(block.props.get(flag))]
            if off:
                problems.append(f"public access block does not set {', '.join(off)}")
        policy = kinds.get("BucketPolicy")
        document = _policy_document(policy.props.get("policy") if policy else bucket.props.get("policy"))
        if not _denies_insecure_transport(document):
            problems.append("no bucket policy statement denies requests with aws:SecureTransport=false")
        versioning = kinds.get("BucketVersioning") or kinds.get("BucketVersioningV2")
        if versioning is not None:
            status = as_mapping(versioning.props.get("versioningConfiguration")).get("status")
            enabled = status == "Enabled"
        else:
            enabled = _truthy(as_mapping(bucket.props.get("versioning")).get("enabled"))
        if not enabled:
            problems.append("versioning is not enabled")
        replication = kinds.get("BucketReplicationConfig")
        rules = (
            replication.props.get("rules")
            if replication
            else as_mapping(bucket.props.get("replicationConfiguration")).get("rules")
        )
        problems += _replication_problems(rules, bucket, buckets, config)
        out += [(bucket, f"bucket {bucket.name}: {problem}") for problem in problems]
    return out


# --- KMS --------------------------------------------------------------------------------------------------------


def _wildcard_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    for value in as_mapping(principal).values():
        if value == "*" or (not isinstance(value, str) and "*" in as_list(value)):
            return True
    return False


@resource_policy("kms-key-hygiene", types=("aws:kms/",))
def kms_key_hygiene(view: View, config: Config) -> list[str]:
    if view.type not in ("aws:kms/key:Key", "aws:kms/keyPolicy:KeyPolicy"):
        return []
    problems = []
    if view.type == "aws:kms/key:Key" and not _truthy(view.props.get("enableKeyRotation")):
        problems.append(f"{view.name}: automatic key rotation is off (enableKeyRotation)")
    for statement in _statements(_policy_document(view.props.get("policy"))):
        if statement.get("Effect") == "Allow" and _wildcard_principal(statement.get("Principal")):
            sid = statement.get("Sid") or "(no Sid)"
            problems.append(f"{view.name}: key policy statement {sid} allows the principal '*'")
    return problems


# --- EKS --------------------------------------------------------------------------------------------------------

REQUIRED_EKS_LOGS = ("api", "audit", "authenticator")


@resource_policy("eks-hardening", types=("aws:eks/cluster:Cluster",))
def eks_hardening(view: View, config: Config) -> list[str]:
    problems = []
    encryption = as_mapping(view.props.get("encryptionConfig"))
    if "secrets" not in as_list(encryption.get("resources")) or not as_mapping(encryption.get("provider")).get(
        "keyArn"
    ):
        problems.append(f"{view.name}: secrets are not envelope-encrypted with a KMS key (encryptionConfig)")
    vpc = as_mapping(view.props.get("vpcConfig"))
    public = vpc.get("endpointPublicAccess")
    if public is None or _truthy(public):
        cidrs = [str(c) for c in as_list(vpc.get("publicAccessCidrs"))]
        if not cidrs or "0.0.0.0/0" in cidrs or "::/0" in cidrs:
            problems.append(f"{view.name}: the API endpoint is public to the whole internet (publicAccessCidrs)")
    logs = set(as_list(view.props.get("enabledClusterLogTypes")))
    missing = [kind for kind in REQUIRED_EKS_LOGS if kind not in logs]
    if missing:
        problems.append(f"{view.name}: control-plane logging misses {', '.join(missing)}")
    return problems


# --- EC2 --------------------------------------------------------------------------------------------------------


@resource_policy("ec2-imdsv2-encrypted-volumes", types=("aws:ec2/launchTemplate:", "aws:ec2/instance:"))
def ec2_imdsv2_encrypted_volumes(view: View, config: Config) -> list[str]:
    problems = []
    if as_mapping(view.props.get("metadataOptions")).get("httpTokens") != "required":
        problems.append(f"{view.name}: IMDSv2 is not required (metadataOptions.httpTokens must be 'required')")
    if view.type == "aws:ec2/launchTemplate:LaunchTemplate":
        mappings = [as_mapping(m) for m in as_list(view.props.get("blockDeviceMappings"))]
        ebs = [as_mapping(m.get("ebs")) for m in mappings if m.get("ebs") is not None]
        if not ebs:
            problems.append(f"{view.name}: no block device mapping sets ebs.encrypted=true")
        for i, volume in enumerate(ebs):
            if not _truthy(volume.get("encrypted")):
                problems.append(f"{view.name}: blockDeviceMappings[{i}].ebs is not encrypted")
    else:
        root = as_mapping(view.props.get("rootBlockDevice"))
        if not _truthy(root.get("encrypted")):
            problems.append(f"{view.name}: rootBlockDevice is not encrypted")
        for i, volume in enumerate(as_list(view.props.get("ebsBlockDevices"))):
            if not _truthy(as_mapping(volume).get("encrypted")):
                problems.append(f"{view.name}: ebsBlockDevices[{i}] is not encrypted")
    return problems


# --- CloudWatch Logs --------------------------------------------------------------------------------------------


@resource_policy("log-encryption-retention", types=("aws:cloudwatch/logGroup:",))
def log_encryption_retention(view: View, config: Config) -> list[str]:
    problems = []
    maximum = int(config.get("maxRetentionDays", 365))
    if not view.props.get("kmsKeyId"):
        problems.append(f"{view.name}: not encrypted with a KMS key (kmsKeyId)")
    retention = view.props.get("retentionInDays")
    if not isinstance(retention, int | float) or isinstance(retention, bool) or retention <= 0:
        problems.append(f"{view.name}: retention is not set (logs kept forever; maximum {maximum} days)")
    elif retention > maximum:
        problems.append(f"{view.name}: retention {int(retention)} days exceeds the maximum of {maximum} days")
    return problems


# --- Site-to-Site VPN -------------------------------------------------------------------------------------------


@resource_policy("vpn-crypto", types=("aws:ec2/vpnConnection:",))
def vpn_crypto(view: View, config: Config) -> list[str]:
    minimum = int(config.get("minDhGroup", 14))
    problems = []
    for tunnel in (1, 2):
        p = f"tunnel{tunnel}"

        def options(key: str, p: str = p) -> list[Any] | None:
            value = view.props.get(f"{p}{key}")
            return list(as_list(value)) if value is not None else None

        ike = options("IkeVersions")
        if ike is None:
            problems.append(f"{p}: IKE versions not set (the AWS default allows ikev1)")
        elif [str(v) for v in ike] != ["ikev2"]:
            problems.append(f"{p}: IKE versions {ike} (only ikev2 allowed)")
        for phase in ("Phase1", "Phase2"):
            integrity = options(f"{phase}IntegrityAlgorithms")
            if integrity is None:
                problems.append(f"{p}: {phase} integrity algorithms not set (the AWS default includes SHA1)")
            elif "SHA1" in integrity:
                problems.append(f"{p}: {phase} integrity algorithms include SHA1")
            encryption = options(f"{phase}EncryptionAlgorithms")
            if encryption is None:
                problems.append(f"{p}: {phase} encryption algorithms not set (the AWS default includes AES128-CBC)")
            elif "AES128" in encryption:
                problems.append(f"{p}: {phase} encryption algorithms include AES128 (CBC)")
            groups = options(f"{phase}DhGroupNumbers")
            if groups is None:
                problems.append(f"{p}: {phase} DH groups not set (the AWS default includes group 2)")
            else:
                weak = sorted(int(g) for g in groups if isinstance(g, int | float) and g < minimum)
                if weak:
                    problems.append(f"{p}: {phase} DH groups {weak} are below group {minimum}")
        logging = as_mapping(as_mapping(view.props.get(f"{p}LogOptions")).get("cloudwatchLogOptions"))
        if not _truthy(logging.get("logEnabled")):
            problems.append(f"{p}: tunnel logging is not enabled (LogOptions.cloudwatchLogOptions.logEnabled)")
    return [f"{view.name}: {problem}" for problem in problems]


# --- Security groups --------------------------------------------------------------------------------------------
# A stack policy: whether a group guards anything depends on the other resources (what attaches it), and CrossGuard
# allows one policy per name. Stack policies run when the preview ends (``pulumi preview``, or ``pulumi up``'s own
# preview) and a mandatory violation stops the update there. During a preview many values are unknown and the SDK
# raises UnknownValueError on reading one (which would turn the whole check into an advisory "can't run"), so this
# check reads every property through _get/_items, where an unknown value is simply not known yet.

OPEN = ("0.0.0.0/0", "::/0")
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
_SG_FAMILY = ("aws:ec2/securityGroup", "aws:ec2/defaultSecurityGroup", "aws:vpc/securityGroup")
_ATTACH_KEYS = frozenset({"securityGroups", "securityGroupIds", "vpcSecurityGroupIds"})
"""Where a resource names the groups that filter its own traffic: an NLB/ALB (``securityGroups``), an instance or
launch template (``vpcSecurityGroupIds``, ``networkInterfaces[].securityGroups``), an ENI (``securityGroups``), an
EKS cluster or Lambda (``vpcConfig.securityGroupIds``), a VPC endpoint (``securityGroupIds``). Inside the group
resources themselves the same names mean *sources* of a rule, so those types never count as attaching."""
_ENI_SG_ATTACHMENT = "aws:ec2/networkInterfaceSecurityGroupAttachment:NetworkInterfaceSecurityGroupAttachment"
_LBC_SECURITY_GROUPS = "service.beta.kubernetes.io/aws-load-balancer-security-groups"
"""A Service's annotation naming the groups the AWS Load Balancer Controller puts on the NLB it creates."""
_K8S_ATTACH_KEYS = frozenset({"securityGroupSelectorTerms"})
"""A Karpenter EC2NodeClass's groups for the nodes it launches."""
_UNKNOWN = "(unknown until the update)"


def _get(mapping: Any, key: str) -> Any:
    """``mapping[key]``; None when absent, ``_UNKNOWN`` when a preview does not know it yet."""
    try:
        return as_mapping(mapping).get(key)
    except UnknownValueError:
        return _UNKNOWN


def _items(sequence: Any) -> list[Any]:
    """The items of a list property, each unknown one as ``_UNKNOWN``."""
    out = []
    items = as_list(sequence)
    for index in range(len(items)):
        try:
            out.append(items[index])
        except UnknownValueError:
            out.append(_UNKNOWN)
    return out


def _opens(protocol: Any, from_port: Any, to_port: Any, ports: list[int]) -> list[int]:
    proto = str(protocol).lower()
    if proto in ("-1", "all"):
        return ports
    if proto not in ("tcp", "6"):
        return []
    low = int(from_port) if isinstance(from_port, int | float) else 0
    high = int(to_port) if isinstance(to_port, int | float) else 65535
    return [port for port in ports if low <= port <= high]


def _cidrs(props: Any, *keys: str) -> list[str]:
    values = [_get(props, key) for key in keys]
    return [str(c) for v in values for c in ([v] if isinstance(v, str) else _items(v)) if c and c != _UNKNOWN]


def _ingress_rules(view: View) -> list[tuple[Any, Any, Any, list[str]]]:
    """(protocol, from, to, CIDRs) of every ingress rule a group or a standalone rule resource holds."""
    props = view.props
    if view.type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        return [
            (_get(r, "protocol"), _get(r, "fromPort"), _get(r, "toPort"), _cidrs(r, "cidrBlocks", "ipv6CidrBlocks"))
            for r in _items(_get(props, "ingress"))
        ]
    if view.type == SG_RULE and _get(props, "type") == "ingress":
        return [
            (
                _get(props, "protocol"),
                _get(props, "fromPort"),
                _get(props, "toPort"),
                _cidrs(props, "cidrBlocks", "ipv6CidrBlocks"),
            )
        ]
    if view.type == SG_INGRESS_RULE:
        cidrs = _cidrs(props, "cidrIpv4", "cidrIpv6")
        return [(_get(props, "ipProtocol"), _get(props, "fromPort"), _get(props, "toPort"), cidrs)]
    return []


def _open_ingress_problems(view: View, ports: list[int]) -> list[str]:
    problems = []
    for protocol, low, high, cidrs in _ingress_rules(view):
        open_cidrs = [c for c in cidrs if c in OPEN]
        hit = _opens(protocol, low, high, ports) if open_cidrs else []
        if hit:
            problems.append(f"{view.name}: ingress from {', '.join(open_cidrs)} to inference port(s) {hit}")
    return problems


def _inference_ports_admitted(view: View, ports: list[int]) -> set[int]:
    return {port for protocol, low, high, _ in _ingress_rules(view) for port in _opens(protocol, low, high, ports)}


def _attached_groups(value: Any, keys: frozenset[str], key: str = "") -> list[Any]:
    """Every value under one of ``keys`` anywhere in ``value`` (a resource's props)."""
    if key in keys:
        return [value] if isinstance(value, str) and value else [v for v in _items(value) if v]
    if isinstance(value, Mapping):
        return [group for k in list(value) for group in _attached_groups(_get(value, k), keys, str(k))]
    return [group for item in _items(value) for group in _attached_groups(item, keys)]


def _attachments(view: View) -> list[Any]:
    """The security groups (ids, names, or unknowns during a preview) that ``view`` puts on its own traffic."""
    if view.type.startswith(_SG_FAMILY):
        return []
    if view.type == _ENI_SG_ATTACHMENT:
        return [group] if (group := _get(view.props, "securityGroupId")) else []
    if view.is_k8s:
        annotation = _get(_get(_get(view.props, "metadata"), "annotations"), _LBC_SECURITY_GROUPS)
        named = [g.strip() for g in annotation.split(",") if g.strip()] if isinstance(annotation, str) else []
        return named + _attached_groups(_get(view.props, "spec"), _K8S_ATTACH_KEYS)
    return _attached_groups(view.props, _ATTACH_KEYS)


def _known_handles(group: View) -> set[str]:
    """What other resources can call ``group`` by (its id and name, once known)."""
    values = (_get(group.props, "id"), _get(group.props, "name"))
    return {v for v in values if isinstance(v, str) and v and v != _UNKNOWN}


def _rule_targets(rule: View, group: View) -> bool:
    """Whether standalone rule ``rule`` adds its rule to ``group`` (rather than naming it as the source)."""
    target = _get(rule.props, "securityGroupId")
    handles = _known_handles(group)
    if isinstance(target, str) and target != _UNKNOWN and handles:
        return target in handles
    source = _get(rule.props, "sourceSecurityGroupId") or _get(rule.props, "referencedSecurityGroupId")
    return group.urn in rule.dependencies and not source


def _unattached_problems(views: list[View], ports: list[int]) -> list[tuple[View | None, str]]:
    groups = [v for v in views if v.type == SECURITY_GROUP]
    rules = [v for v in views if v.type in (SG_RULE, SG_INGRESS_RULE)]
    users = [(v, {str(a) for a in attached}) for v in views if (attached := _attachments(v))]
    out: list[tuple[View | None, str]] = []
    for group in groups:
        admitted = _inference_ports_admitted(group, ports)
        for rule in rules:
            if _rule_targets(rule, group):
                admitted |= _inference_ports_admitted(rule, ports)
        if not admitted:
            continue
        handles = _known_handles(group)
        # Attached when a user of groups depends on it (ids are unknown during a preview) or names its id or name.
        if any(group.urn in user.dependencies or handles & attached for user, attached in users):
            continue
        out.append(
            (
                group,
                f"{group.name}: admits traffic to inference port(s) {sorted(admitted)} but no resource in the stack "
                "uses the group (a group nothing is attached to filters nothing: attach it to the load balancer, "
                "instance, network interface or endpoint it should guard, or delete it)",
            )
        )
    return out


@stack_policy("no-open-inference-ingress")
def no_open_inference_ingress(views: list[View], config: Config) -> list[tuple[View | None, str]]:
    ports = [int(p) for p in config.get("inferencePorts", [8000, 8001, 8002, 8080, 8443, 11434])]
    out: list[tuple[View | None, str]] = [
        (view, problem) for view in views for problem in _open_ingress_problems(view, ports)
    ]
    return out + _unattached_problems(views, ports)
