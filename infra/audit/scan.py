"""Scan a live AWS account (or whatever endpoint boto3 is pointed at) into a Report.

Coverage is honest: a region that is not enabled, or a service call answered with AccessDenied (or not
available in a region), is written into the scope's ``not_scanned`` with the reason. Throttling is retried
by botocore's standard retry mode; every list call that has a paginator is paginated.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from infra.audit import rules
from infra.audit.iam_policy import api_call
from infra.audit.rules import GLOBAL, Resource
from infra.report import Finding, Report, Scope

TOOL = "infra audit"
TODAY_ENV = "INFRA_POLICY_TODAY"
"""The date exemptions are judged on, as ``infra check`` passes it to the policy pack (tests pin it)."""
DEFAULT_REGION = "us-east-1"
MAX_ATTEMPTS = 10
PROBE_MAX_ATTEMPTS = 1
ENABLED = frozenset({"opt-in-not-required", "opted-in"})
_CREDENTIAL_CODES = frozenset(
    {"InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken", "SignatureDoesNotMatch", "AuthFailure"}
)
_GONE_VPN_STATES = frozenset({"deleted", "deleting"})

T = TypeVar("T")


class AuditCredentialsError(Exception):
    """No usable credentials (or no reachable endpoint): the CLI prints one line and exits 2."""


class AuditUsageError(Exception):
    """A bad --regions or --today (or $INFRA_POLICY_TODAY) value: exit 2."""


def retry_config(max_attempts: int = MAX_ATTEMPTS) -> Config:
    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="hybrid-llm-infra-audit",
    )


class Api:
    """boto3 clients per (service, region), created under a lock (sessions are not thread-safe); every call is
    checked against AUDIT_CALLS, so nothing the scanner does can be missing from the printed IAM policy."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.session = session
        self.default_region = session.region_name or DEFAULT_REGION
        self._clients: dict[tuple[str, str, int], Any] = {}
        self._lock = threading.Lock()
        self._config = retry_config()

    def client(self, service: str, region: str, max_attempts: int = MAX_ATTEMPTS) -> Any:
        with self._lock:
            key = (service, region, max_attempts)
            if key not in self._clients:
                config = self._config if max_attempts == MAX_ATTEMPTS else retry_config(max_attempts)
                self._clients[key] = self.session.client(service, region_name=region, config=config)
            return self._clients[key]

    def call(
        self, service: str, region: str, operation: str, _max_attempts: int = MAX_ATTEMPTS, **params: Any
    ) -> dict[str, Any]:
        api_call(service, operation)
        client = self.client(service, region, _max_attempts)
        return dict(getattr(client, _snake(client, operation))(**params))

    def items(self, service: str, region: str, operation: str, key: str, **params: Any) -> Iterator[Any]:
        """Every item under ``key`` of every page (a paginator wherever botocore has one)."""
        api_call(service, operation)
        client = self.client(service, region)
        name = _snake(client, operation)
        if client.can_paginate(name):
            for page in client.get_paginator(name).paginate(**params):
                yield from page.get(key) or []
        else:
            yield from getattr(client, name)(**params).get(key) or []


def _snake(client: Any, operation: str) -> str:
    for snake, api in client.meta.method_to_api_mapping.items():
        if api == operation:
            return str(snake)
    raise KeyError(f"{client.meta.service_model.service_name} has no operation {operation}")


@dataclass
class _RegionResult:
    scope: Scope
    resources: dict[str, Resource] = field(default_factory=dict)


def _guard(scope: Scope, label: str, fn: Callable[[], T]) -> T | None:
    """Run one AWS call; AccessDenied, not-enabled and not-available become a not-scanned note with the reason."""
    try:
        return fn()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        message = error.get("Message", "")
        scope.not_scanned.append(f"{label}: {code}" + (f" ({message})" if message else ""))
    except EndpointConnectionError as exc:
        scope.not_scanned.append(f"{label}: service not available here ({exc})")
    except (NoCredentialsError, PartialCredentialsError):
        raise
    except BotoCoreError as exc:  # timeouts, closed connections: after botocore's retries, a stated gap
        scope.not_scanned.append(f"{label}: {type(exc).__name__} ({exc})")
    return None


def audit_today(text: str | None = None) -> date:
    """``text`` (YYYY-MM-DD), else ``$INFRA_POLICY_TODAY``, else the real date: the pack's rule."""
    value = text if text else os.environ.get(TODAY_ENV, "")
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        source = "--today" if text else f"${TODAY_ENV}"
        raise AuditUsageError(f"{source}={value!r} is not a YYYY-MM-DD date") from None


def run_audit(
    session: boto3.session.Session | None = None,
    regions: list[str] | None = None,
    workers: int = 8,
    today: date | None = None,
) -> Report:
    """Scan, then judge each finding against its resource's ``policy-exemption:<control>`` tag as of ``today``
    (default :func:`audit_today`)."""
    today = today or audit_today()
    session = session or boto3.session.Session()
    api = Api(session)
    account, partition = _identity(api)
    all_regions = _regions(api)
    global_scope = Scope(GLOBAL)

    if regions:
        unknown = sorted(set(regions) - set(all_regions))
        if unknown:
            raise AuditUsageError(f"unknown region(s): {', '.join(unknown)}; known: {', '.join(sorted(all_regions))}")
        wanted = sorted(set(regions))
    else:
        wanted = sorted(all_regions)
    to_scan: list[str] = []
    for region in wanted:
        status = all_regions[region]
        region_partition = session.get_partition_for_region(region)
        if region_partition != partition:
            global_scope.not_scanned.append(f"{region}: partition {region_partition}, credentials are for {partition}")
        elif status not in ENABLED:
            global_scope.not_scanned.append(f"{region}: region not enabled (opt-in status {status})")
        else:
            to_scan.append(region)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = dict(zip(to_scan, pool.map(lambda r: _scan_region(api, r, account, partition), to_scan), strict=True))

    global_resources: dict[str, Resource] = {}
    for result in results.values():  # global resources (IAM, CloudFront...) appear in the tagging API of us-east-1
        for arn in [a for a, r in result.resources.items() if r.region == GLOBAL]:
            global_resources[arn] = result.resources.pop(arn)
    _scan_buckets(api, global_scope, results, set(all_regions) - set(to_scan), set(wanted))

    scopes = []
    for resources, scope in [
        (global_resources, global_scope),
        *((results[r].resources, results[r].scope) for r in sorted(results)),
    ]:
        for arn in sorted(resources):
            scope.checked.append(arn)
            scope.findings[:0] = rules.tag_findings(resources[arn])
        # every finding's location is the ARN of a resource of its own scope
        scope.findings = [
            rules.apply_exemption(f, resources[f.location].tags if f.location in resources else None, today)
            for f in scope.findings
        ]
        scopes.append(scope)
    return Report(tool=TOOL, scopes=scopes)


def _identity(api: Api) -> tuple[str, str]:
    """The account id and partition; the first call, so missing or rejected credentials fail here."""
    try:
        # Few retries here: an unreachable endpoint or missing credentials should fail in seconds, not minutes.
        answer = api.call("sts", api.default_region, "GetCallerIdentity", _max_attempts=PROBE_MAX_ATTEMPTS)
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise AuditCredentialsError(f"no AWS credentials: {exc}") from None
    except NoRegionError as exc:
        raise AuditCredentialsError(str(exc)) from None
    except EndpointConnectionError as exc:
        raise AuditCredentialsError(f"cannot reach AWS: {exc}") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _CREDENTIAL_CODES:
            raise AuditCredentialsError(f"AWS rejected the credentials: {code}") from None
        raise
    arn = str(answer.get("Arn", ""))
    partition = arn.split(":")[1] if arn.count(":") >= 5 else api.session.get_partition_for_region(api.default_region)
    return str(answer["Account"]), partition


def _regions(api: Api) -> dict[str, str]:
    """Every region the account knows, with its opt-in status."""
    answer = api.call("ec2", api.default_region, "DescribeRegions", AllRegions=True)
    return {r["RegionName"]: r.get("OptInStatus", "opt-in-not-required") for r in answer.get("Regions", [])}


def _region_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else GLOBAL


def _scan_region(api: Api, region: str, account: str, partition: str) -> _RegionResult:
    result = _RegionResult(Scope(region))
    scope, resources = result.scope, result.resources

    def tagged() -> None:
        for mapping in api.items("resourcegroupstaggingapi", region, "GetResources", "ResourceTagMappingList"):
            arn = mapping["ResourceARN"]
            if arn.split(":")[2:3] == ["s3"]:
                continue  # buckets are placed by GetBucketLocation (the tagging API may list them anywhere)
            arn_region = _region_of(arn)
            if arn_region not in (region, GLOBAL):
                continue
            resources[arn] = Resource(arn, arn_region, {t["Key"]: t["Value"] for t in mapping.get("Tags", [])})

    _guard(scope, "tag:GetResources", tagged)

    names = _guard(scope, "eks:ListClusters", lambda: list(api.items("eks", region, "ListClusters", "clusters")))
    for name in names or []:
        answer = _guard(
            scope, f"eks:DescribeCluster {name}", partial(api.call, "eks", region, "DescribeCluster", name=name)
        )
        if answer is not None:
            cluster = answer["cluster"]
            arn = cluster["arn"]
            resources[arn] = Resource(arn, region, dict(cluster.get("tags") or {}))
            found = rules.eks_endpoint_finding(arn, region, cluster.get("resourcesVpcConfig") or {})
            if found:
                scope.findings.append(found)

    def vpns() -> None:
        for vpn in api.items("ec2", region, "DescribeVpnConnections", "VpnConnections"):
            if vpn.get("State") in _GONE_VPN_STATES:
                continue
            arn = f"arn:{partition}:ec2:{region}:{account}:vpn-connection/{vpn['VpnConnectionId']}"
            resources[arn] = Resource(arn, region, {t["Key"]: t["Value"] for t in vpn.get("Tags", [])})
            telemetry = vpn.get("VgwTelemetry") or []
            if not telemetry and vpn.get("State") == "available":
                scope.not_scanned.append(f"tunnel status of {arn}: the endpoint returned no VgwTelemetry")
            found = rules.vpn_tunnel_finding(arn, region, telemetry)
            if found:
                scope.findings.append(found)

    _guard(scope, "ec2:DescribeVpnConnections", vpns)
    return result


def _bucket_region(api: Api, name: str) -> str:
    answer = api.call("s3", api.default_region, "GetBucketLocation", Bucket=name)
    location = answer.get("LocationConstraint") or "us-east-1"  # us-east-1 answers null
    return "eu-west-1" if location == "EU" else str(location)


def _scan_buckets(
    api: Api, global_scope: Scope, results: dict[str, _RegionResult], unscanned: set[str], wanted: set[str]
) -> None:
    buckets = _guard(
        global_scope, "s3:ListBuckets", lambda: list(api.items("s3", api.default_region, "ListBuckets", "Buckets"))
    )
    for bucket in buckets or []:
        name = bucket["Name"]
        region = _guard(global_scope, f"s3:GetBucketLocation {name}", partial(_bucket_region, api, name))
        if region is None:
            continue
        if region not in results:
            if region in unscanned and region in wanted:
                global_scope.not_scanned.append(f"bucket {name}: its region {region} is not scanned")
            continue
        scope = results[region].scope
        arn = f"arn:{_partition_of(api, region)}:s3:::{name}"
        resource = Resource(arn, region)
        results[region].resources[arn] = resource
        _check_bucket(api, scope, resource, name)


def _partition_of(api: Api, region: str) -> str:
    return str(api.session.get_partition_for_region(region))


def _optional(fn: Callable[[], dict[str, Any]], missing: str) -> dict[str, Any] | None:
    """A Get* call whose 'not configured' error means None, not a coverage gap."""
    try:
        return fn()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == missing:
            return None
        raise


def _check_bucket(api: Api, scope: Scope, resource: Resource, name: str) -> None:
    region = resource.region

    def call(operation: str) -> dict[str, Any]:
        return api.call("s3", region, operation, Bucket=name)

    tagging = _guard(
        scope,
        f"s3:GetBucketTagging {name}",
        lambda: {"found": _optional(lambda: call("GetBucketTagging"), "NoSuchTagSet")},
    )
    if tagging is not None:
        resource.tags = {t["Key"]: t["Value"] for t in (tagging["found"] or {}).get("TagSet", [])}
    else:
        resource.tags = None  # unknown: the tag rules skip it, and not_scanned says why

    findings: list[Finding | None] = []
    enc = _guard(
        scope,
        f"s3:GetBucketEncryption {name}",
        lambda: {
            "found": _optional(lambda: call("GetBucketEncryption"), "ServerSideEncryptionConfigurationNotFoundError")
        },
    )
    if enc is not None:
        config = (enc["found"] or {}).get("ServerSideEncryptionConfiguration")
        findings.append(rules.s3_encryption_finding(resource, config))
    pab = _guard(
        scope,
        f"s3:GetPublicAccessBlock {name}",
        lambda: {"found": _optional(lambda: call("GetPublicAccessBlock"), "NoSuchPublicAccessBlockConfiguration")},
    )
    if pab is not None:
        findings.append(
            rules.s3_public_access_finding(resource, (pab["found"] or {}).get("PublicAccessBlockConfiguration"))
        )
    rep = _guard(
        scope,
        f"s3:GetBucketReplication {name}",
        lambda: {"found": _optional(lambda: call("GetBucketReplication"), "ReplicationConfigurationNotFoundError")},
    )
    if rep is not None:
        for destination in rules.replication_destinations((rep["found"] or {}).get("ReplicationConfiguration")):
            target = destination.split(":::", 1)[-1]
            where = _guard(
                scope,
                f"s3:GetBucketLocation {target} (replication destination of {name})",
                partial(_bucket_region, api, target),
            )
            if where is not None:
                findings.append(rules.s3_replication_finding(resource, destination, where))
    scope.findings.extend(f for f in findings if f is not None)
