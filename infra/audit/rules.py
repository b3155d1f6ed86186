"""The audit's rules: pure functions from what AWS answered to Findings, worded by the controls catalogue.

Nothing here calls AWS, so every rule can be tested on a plain dict (or a stubbed botocore response).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from infra.report import Finding
from residency import (
    JURISDICTIONS,
    ONPREM_ONLY_CLASSIFICATIONS,
    REQUIRED_TAG_KEYS,
    TAG_DATA_CLASSIFICATION,
    TAG_DATA_RESIDENCY,
    jurisdiction_for_region,
)
from residency.controls import Citation, control
from residency.exemptions import aws_exemptions, exempt_message, has_exemption_key

GLOBAL = "global"
"""The scope of resources that live in no region (IAM, CloudFront, Route 53 ...)."""

PUBLIC_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
PUBLIC_ACCESS_BLOCK_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})


@dataclass
class Resource:
    arn: str
    region: str
    """The AWS region the resource lives in, or GLOBAL."""
    tags: dict[str, str] | None = field(default_factory=dict)
    """None when the tags could not be read (the scope's not_scanned says why): no tag rule judges them."""


def citations_for(control_id: str, region: str) -> tuple[Citation, ...]:
    """The control's articles of the law of the region's jurisdiction (all of them outside every jurisdiction)."""
    cites = control(control_id).citations
    jurisdiction = jurisdiction_for_region(region)
    if jurisdiction is None:
        return cites
    framework = jurisdiction.regulation.id.replace("-", " ")
    return tuple(c for c in cites if c.framework == framework) or cites


def finding(control_id: str, resource_arn: str, region: str, what: str) -> Finding:
    """A Finding whose message carries the articles and the remediation, as every renderer shows the message."""
    ctl = control(control_id)
    articles = "; ".join(str(c) for c in citations_for(control_id, region))
    return Finding(
        control=control_id,
        status="fail",
        enforcement=ctl.enforcement,
        location=resource_arn,
        message=f"{what} [{articles}] Remediation: {ctl.remediation}",
        scope=region,
    )


def tag_findings(resource: Resource) -> list[Finding]:
    """Region outside every jurisdiction, missing tags, a data-residency tag that contradicts the region,
    restricted data on AWS."""
    out: list[Finding] = []
    region = resource.region
    jurisdiction = jurisdiction_for_region(region) if region != GLOBAL else None
    if region != GLOBAL and jurisdiction is None:
        allowed = ", ".join(f"{j.id}: {', '.join(sorted(j.aws_regions))}" for j in JURISDICTIONS.values())
        out.append(
            finding(
                "region-in-jurisdiction",
                resource.arn,
                region,
                f"{region} belongs to no allowed jurisdiction ({allowed}).",
            )
        )
    if resource.tags is None:
        return out
    missing = [key for key in REQUIRED_TAG_KEYS if not resource.tags.get(key)]
    if missing:
        out.append(finding("residency-tags", resource.arn, region, f"missing required tag(s): {', '.join(missing)}."))
    residency = resource.tags.get(TAG_DATA_RESIDENCY)
    if residency:
        known = {j.residency_value: j for j in JURISDICTIONS.values()}
        if residency not in known:
            out.append(
                finding(
                    "residency-matches-location",
                    resource.arn,
                    region,
                    f"{TAG_DATA_RESIDENCY}={residency} names no jurisdiction; allowed: {', '.join(sorted(known))}.",
                )
            )
        elif jurisdiction is not None and residency != jurisdiction.residency_value:
            out.append(
                finding(
                    "residency-matches-location",
                    resource.arn,
                    region,
                    f"{TAG_DATA_RESIDENCY}={residency} ({known[residency].name}) but the resource is in {region} "
                    f"({jurisdiction.name}, {TAG_DATA_RESIDENCY}={jurisdiction.residency_value}).",
                )
            )
    if resource.tags.get(TAG_DATA_CLASSIFICATION) in ONPREM_ONLY_CLASSIFICATIONS:
        out.append(
            finding(
                "restricted-data-onprem-only",
                resource.arn,
                region,
                f"{TAG_DATA_CLASSIFICATION}={resource.tags[TAG_DATA_CLASSIFICATION]} on AWS.",
            )
        )
    return out


def s3_encryption_finding(bucket: Resource, encryption: Mapping[str, Any] | None) -> Finding | None:
    """``encryption`` is GetBucketEncryption's ServerSideEncryptionConfiguration, or None when there is none."""
    rules = (encryption or {}).get("Rules", [])
    algorithms = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
    if any(a in KMS_ALGORITHMS for a in algorithms):
        return None
    seen = ", ".join(a for a in algorithms if a) or "none"
    return finding(
        "s3-encryption-and-access", bucket.arn, bucket.region, f"default encryption is not SSE-KMS (found: {seen})."
    )


def s3_public_access_finding(bucket: Resource, block: Mapping[str, Any] | None) -> Finding | None:
    """``block`` is GetPublicAccessBlock's PublicAccessBlockConfiguration, or None when there is none."""
    off = [key for key in PUBLIC_ACCESS_BLOCK_KEYS if not (block or {}).get(key)]
    if not off:
        return None
    return finding(
        "s3-encryption-and-access", bucket.arn, bucket.region, f"public-access block(s) not set: {', '.join(off)}."
    )


def s3_replication_finding(bucket: Resource, destination_arn: str, destination_region: str) -> Finding | None:
    here = jurisdiction_for_region(bucket.region)
    there = jurisdiction_for_region(destination_region)
    if here is not None and there is not None and here.id == there.id:
        return None
    if here is None and there is None:
        return None  # both outside every jurisdiction: region-in-jurisdiction already names both buckets
    return finding(
        "s3-encryption-and-access",
        bucket.arn,
        bucket.region,
        f"replicates to {destination_arn} in {destination_region} "
        f"({there.name if there else 'no allowed jurisdiction'}), outside "
        f"{here.name if here else 'every allowed jurisdiction'}.",
    )


def replication_destinations(replication: Mapping[str, Any] | None) -> list[str]:
    """Destination bucket ARNs of the enabled rules of a ReplicationConfiguration."""
    out = []
    for rule in (replication or {}).get("Rules", []):
        if rule.get("Status", "Enabled") != "Enabled":
            continue
        arn = rule.get("Destination", {}).get("Bucket")
        if arn and arn not in out:
            out.append(arn)
    return out


def eks_endpoint_finding(cluster_arn: str, region: str, vpc_config: Mapping[str, Any]) -> Finding | None:
    """``vpc_config`` is DescribeCluster's cluster.resourcesVpcConfig."""
    if not vpc_config.get("endpointPublicAccess"):
        return None
    open_to = sorted(PUBLIC_CIDRS & set(vpc_config.get("publicAccessCidrs") or ["0.0.0.0/0"]))
    if not open_to:
        return None
    return finding(
        "eks-hardening", cluster_arn, region, f"public API endpoint open to {', '.join(open_to)} (unrestricted)."
    )


def vpn_tunnel_finding(vpn_arn: str, region: str, telemetry: Iterable[Mapping[str, Any]]) -> Finding | None:
    """``telemetry`` is DescribeVpnConnections' VgwTelemetry of one connection."""
    down = [t for t in telemetry if str(t.get("Status", "")).upper() == "DOWN"]
    if not down:
        return None
    tunnels = ", ".join(
        f"{t.get('OutsideIpAddress', '?')}" + (f" ({t['StatusMessage']})" if t.get("StatusMessage") else "")
        for t in down
    )
    return finding("vpn-tunnel-up", vpn_arn, region, f"{len(down)} tunnel(s) DOWN: {tunnels}.")


# --- exemptions: the policy pack's semantics (policies/rules/base.py), through the same parser -------------------


def apply_exemption(found: Finding, tags: Mapping[str, Any] | None, today: date) -> Finding:
    """The finding as the resource's ``policy-exemption:<control>`` tag leaves it.

    Valid (last day >= ``today``): status ``exempt``, ``exempt_reason`` ``until <date>: <reason>`` and the
    message ``EXEMPT until <date>: <reason>; <control>: <finding>`` (``residency.exemptions.exempt_message``).
    Expired or malformed: still a failure, and the message says why the exemption waives nothing. No tag, or
    tags that could not be read (``None``; the scope's not_scanned says why): unchanged.
    """
    if not tags or not has_exemption_key(tags):
        return found
    exemption = aws_exemptions(tags, today).get(found.control)
    if exemption is None:
        return found
    if exemption.active:
        return replace(
            found, status="exempt", message=exempt_message(exemption, found.message), exempt_reason=exemption.describe()
        )
    return replace(found, message=exemption.waiver_note() + found.message)
