"""A jurisdiction's public hostname: Route 53 failover from the region's front-door NLB to the on-prem site.

Only failover records (or, with no second site, one simple alias record): never geolocation, latency, weighted or
a default/wildcard record, and no accelerator or CDN in front — each of those can answer with a site of another
jurisdiction when this one degrades. Both answers are health-checked; when both are unhealthy Route 53 answers
the primary (still this jurisdiction). README, "The front door".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class HealthCheckSpec:
    """How Route 53 probes one endpoint (stackconfig.front_door.HealthCheckConfig, as plain values)."""

    type: str
    port: int
    path: str
    request_interval: int
    failure_threshold: int

    def __post_init__(self) -> None:
        if self.type not in ("HTTPS", "TCP"):
            raise ValueError(f"health check type {self.type!r}; allowed: HTTPS, TCP")


@dataclass(frozen=True)
class RegionEntry:
    """The region's internet-facing NLB: an alias target (its DNS name and its region's NLB alias zone)."""

    site: str
    dns_name: pulumi.Input[str]
    alias_zone_id: str
    health_check: HealthCheckSpec


@dataclass(frozen=True)
class SiteEntry:
    """The jurisdiction's on-prem site: its public address."""

    site: str
    address: str
    health_check: HealthCheckSpec
    hostname: str | None = None
    """The site's own name (a simple record to its address): reaches the models only the site serves, e.g. the
    restricted ones, while the jurisdiction's name answers with the region."""


@dataclass(frozen=True)
class JurisdictionDnsArgs:
    zone_id: str
    hostname: str
    primary: RegionEntry
    secondary: SiteEntry | None = None
    ttl: int = 60
    tags: Mapping[str, str] = field(default_factory=dict)


class JurisdictionDns(pulumi.ComponentResource):
    """The records and health checks of one jurisdiction's hostname in the public zone."""

    health_checks: dict[str, aws.route53.HealthCheck]
    records: dict[str, aws.route53.Record]

    def __init__(self, name: str, args: JurisdictionDnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:front-door:JurisdictionDns", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        primary, secondary = args.primary, args.secondary
        self.health_checks = {
            primary.site: self._health_check(
                f"{name}-{primary.site}", primary.health_check, args.tags, fqdn=primary.dns_name, opts=child
            )
        }
        if secondary is not None:
            # Probed at the site's address with the public hostname as Host header and SNI (Route 53 sends the
            # FQDN when IPAddress is set), so the gateway answers as it would a client.
            self.health_checks[secondary.site] = self._health_check(
                f"{name}-{secondary.site}",
                secondary.health_check,
                args.tags,
                fqdn=args.hostname,
                ip_address=secondary.address,
                opts=child,
            )
        alias = aws.route53.RecordAliasArgs(
            name=primary.dns_name, zone_id=primary.alias_zone_id, evaluate_target_health=True
        )
        if secondary is None:
            # One site in the jurisdiction: a simple alias record (failover to nowhere would still answer it).
            self.records = {
                primary.site: aws.route53.Record(
                    f"{name}-{primary.site}",
                    zone_id=args.zone_id,
                    name=args.hostname,
                    type="A",
                    aliases=[alias],
                    opts=child,
                )
            }
        else:
            self.records = {
                primary.site: aws.route53.Record(
                    f"{name}-{primary.site}",
                    zone_id=args.zone_id,
                    name=args.hostname,
                    type="A",
                    set_identifier=f"{primary.site}-primary",
                    failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type="PRIMARY")],
                    health_check_id=self.health_checks[primary.site].id,
                    aliases=[alias],
                    opts=child,
                ),
                secondary.site: aws.route53.Record(
                    f"{name}-{secondary.site}",
                    zone_id=args.zone_id,
                    name=args.hostname,
                    type="A",
                    set_identifier=f"{secondary.site}-secondary",
                    failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type="SECONDARY")],
                    health_check_id=self.health_checks[secondary.site].id,
                    records=[secondary.address],
                    ttl=args.ttl,
                    opts=child,
                ),
            }
        if secondary is not None and secondary.hostname is not None:
            # One site behind the name: a simple record (Route 53 ignores health checks on simple records).
            self.records[f"{secondary.site}-own"] = aws.route53.Record(
                f"{name}-{secondary.site}-own",
                zone_id=args.zone_id,
                name=secondary.hostname,
                type="A",
                records=[secondary.address],
                ttl=args.ttl,
                opts=child,
            )
        self.hostname = args.hostname
        self.register_outputs(
            {
                "hostname": args.hostname,
                "healthCheckIds": {site: check.id for site, check in self.health_checks.items()},
            }
        )

    @staticmethod
    def _health_check(
        name: str,
        spec: HealthCheckSpec,
        tags: Mapping[str, str],
        *,
        fqdn: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
        ip_address: str | None = None,
    ) -> aws.route53.HealthCheck:
        return aws.route53.HealthCheck(
            f"{name}-health",
            type=spec.type,
            fqdn=fqdn,
            ip_address=ip_address,
            port=spec.port,
            resource_path=spec.path if spec.type == "HTTPS" else None,
            enable_sni=True if spec.type == "HTTPS" else None,
            request_interval=spec.request_interval,
            failure_threshold=spec.failure_threshold,
            tags={**tags, "Name": name},
            opts=opts,
        )
