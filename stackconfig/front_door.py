"""Config of a jurisdiction's public front door: its hostname in the public zone and who answers for it.

Key: ``hybrid-llm-infra:frontDoor`` on an AWS stack (absent: no front door). The stack whose region is the
jurisdiction's primary site owns the jurisdiction's records; the public hosted zone itself is a precondition named
here (README, "The front door": why no stack owns it). Self-contained (pydantic + stdlib + stackconfig): imported
by stackconfig/models.py. The checks that need the whole stack are ``front_door_problems``. Defaults live here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from stackconfig.errors import Problem
from stackconfig.helm import HelmChartConfig
from stackconfig.types import DnsLabel

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _hostname(value: str) -> str:
    if not _HOSTNAME.fullmatch(value):
        raise ValueError("must be a lowercase fully qualified DNS name without a trailing dot (no wildcard)")
    return value


_TEST_NETS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")


def _public_ipv4(value: str) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("not an IPv4 address") from None
    # TEST-NET ranges (RFC 5737) count as private to Python; documentation examples use them, so they pass.
    documentation = any(address in ipaddress.ip_network(n) for n in _TEST_NETS)
    if (
        address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
    ) and not documentation:
        raise ValueError("must be a public address (Route 53 health checkers reach it from the internet)")
    return str(address)


Hostname = Annotated[str, AfterValidator(_hostname)]
PublicAddress = Annotated[str, AfterValidator(_public_ipv4)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class HealthCheckConfig(_Model):
    """A Route 53 health check of one endpoint (HTTPS: the status code counts; the certificate is not checked)."""

    type: Literal["HTTPS", "TCP"] = Field(default="HTTPS", description="HTTPS (path answered 2xx/3xx) or TCP.")
    port: int = Field(default=443, ge=1, le=65535)
    path: str = Field(default="/healthz", pattern=r"^/\S*$", description="Path probed (HTTPS only).")
    # Route 53 allows 10 (fast, extra cost) or 30 seconds, and 1-10 failures before a change of state.
    request_interval: Literal[10, 30] = Field(default=30)
    failure_threshold: int = Field(default=3, ge=1, le=10)


class ZoneConfig(_Model):
    """The existing public hosted zone the jurisdictions' hostnames live in."""

    name: Hostname = Field(description="The zone's domain, e.g. models.example.com.")
    hosted_zone_id: str = Field(pattern=r"^Z[A-Z0-9]{1,31}$", description="Its Route 53 hosted zone id.")


class SecondarySite(_Model):
    """The jurisdiction's on-prem site: where the name fails over to when the AWS region is unhealthy."""

    site: DnsLabel = Field(description="The site's name (e.g. onprem).")
    jurisdiction: Literal["EU", "UAE"] = Field(description="Where the site is; must be the stack's jurisdiction.")
    address: PublicAddress = Field(description="Public IPv4 of the site's load balancer in front of its gateway.")
    health_check: HealthCheckConfig = Field(description="How Route 53 probes the site (required: no unchecked entry).")
    hostname: Hostname | None = Field(
        default=None,
        description="The site's own name in the zone (a simple record to address), for the models only the site "
        "serves (restricted ones): the jurisdiction's name answers with the region while it is healthy.",
    )


def _https_url(value: str) -> str:
    if not re.fullmatch(r"https://[^\s/]+(/\S*)?", value):
        raise ValueError("must be an https:// URL (the gateway fetches keys and trusts issuers over TLS only)")
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]


class RestrictedAccessConfig(_Model):
    """The claim that entitles a caller to restricted (personal) data: without it the gateway answers 403."""

    # No '.': Envoy Gateway splits a claim name on dots into a nested path (api/v1alpha1 JWTClaim.Name, v1.6.7), so
    # a URL-style claim would never match and every caller would get 403.
    claim: str = Field(pattern=r"^[A-Za-z0-9_:/-]{1,128}$", description="Top-level claim name, e.g. groups or roles.")
    values: list[str] = Field(min_length=1, description="Accepted values (any one entitles).")
    value_type: Literal["String", "StringArray"] = Field(
        default="StringArray", description="String (one value) or StringArray (a list, as groups usually are)."
    )


class JwtConfig(_Model):
    """Who issues the callers' tokens; the gateway refuses a request without a valid one (no anonymous access)."""

    issuer: HttpsUrl = Field(description="The tokens' iss claim (https://).")
    jwks_uri: HttpsUrl = Field(description="Where the issuer publishes its signing keys (https://).")
    audiences: list[str] = Field(default_factory=list, description="Accepted aud values (empty: any).")
    restricted_access: RestrictedAccessConfig | None = Field(
        default=None,
        description="Required where restricted models are routed (on-prem): the claim a caller needs for them.",
    )


class RateLimitConfig(_Model):
    """Per-client limit, counted by the token's sub claim in each gateway pod (Envoy local rate limit)."""

    requests: int = Field(default=60, ge=1, description="Requests per unit per client and gateway pod.")
    unit: Literal["Second", "Minute", "Hour"] = Field(default="Minute")


class GatewayConfig(_Model):
    """The gateway behind a site's entry: Envoy Gateway, routes to the stack's models, JWT and a per-client limit."""

    chart: HelmChartConfig = Field(
        default=HelmChartConfig(repository="oci://docker.io/envoyproxy", chart="gateway-helm", version="v1.6.7"),
        description="Envoy Gateway's chart (pinned; an internal OCI mirror works the same way).",
    )
    jwt: JwtConfig = Field(description="The token issuer (required: no anonymous access).")
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    models: list[DnsLabel] | None = Field(
        default=None, description="Models routed (names in the stack's inference; null: all of them)."
    )
    replicas: int = Field(default=2, ge=1, le=10, description="Envoy proxy pods.")


class FrontDoorConfig(_Model):
    """One hostname for the stack's jurisdiction: failover from this region to the jurisdiction's on-prem site."""

    zone: ZoneConfig
    hostname: Hostname = Field(description="The jurisdiction's name, inside zone.name (e.g. eu.models.example.com).")
    health_check: HealthCheckConfig = Field(description="How Route 53 probes this region's entry (required).")
    secondary: SecondarySite | None = Field(
        default=None, description="The jurisdiction's on-prem site (null: the region answers alone)."
    )
    ttl: int = Field(default=60, ge=10, le=300, description="TTL of the secondary's A record (aliases have none).")
    gateway: GatewayConfig = Field(description="The gateway the NLB forwards to (required).")


def front_door_problems(path: str, door: FrontDoorConfig | None, jurisdiction: str) -> list[Problem]:
    """Checks across keys: the hostname in the zone, the secondary in the stack's jurisdiction."""
    if door is None:
        return []
    problems = []
    zone = door.zone.name
    if not door.hostname.endswith("." + zone):
        problems.append(Problem(f"{path}.hostname", f"{door.hostname} is not inside the zone {zone} (zone.name)"))
    own = door.secondary.hostname if door.secondary is not None else None
    if own is not None and not own.endswith("." + zone):
        problems.append(Problem(f"{path}.secondary.hostname", f"{own} is not inside the zone {zone} (zone.name)"))
    if own is not None and own == door.hostname:
        problems.append(
            Problem(f"{path}.secondary.hostname", f"{own} is the jurisdiction's hostname; the site's own name differs")
        )
    if door.secondary is not None and door.secondary.jurisdiction != jurisdiction:
        problems.append(
            Problem(
                f"{path}.secondary.jurisdiction",
                f"{door.secondary.site} is in {door.secondary.jurisdiction}; a {jurisdiction} hostname fails over "
                f"only to a site of {jurisdiction}",
            )
        )
    return problems


def front_door_model_problems(path: str, door: FrontDoorConfig | None, models: dict[str, str]) -> list[Problem]:
    """The routed models, by name -> classification: each served by this stack and never restricted."""
    if door is None:
        return []
    problems = []
    if door.gateway.jwt.restricted_access is not None:
        problems.append(
            Problem(
                f"{path}.gateway.jwt.restrictedAccess",
                "no restricted model is routed on AWS (restricted data is served only on-prem); remove it",
            )
        )
    if door.gateway.models is None:
        return problems
    for i, name in enumerate(door.gateway.models):
        key = f"{path}.gateway.models[{i}]"
        if name not in models:
            problems.append(
                Problem(key, f"{name} is not a model of this stack's inference ({', '.join(sorted(models))})")
            )
        elif models[name] == "restricted":
            problems.append(Problem(key, f"{name} is restricted; restricted data is served only on-prem"))
    return problems
