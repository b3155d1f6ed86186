"""front-door-stays-in-jurisdiction: a jurisdiction's public hostname can only answer with its own sites.

A stack check over Route 53 records and health checks, Global Accelerator endpoint groups and CloudFront
distributions. Where a target lies: an alias by its NLB alias zone (one per region, ``residency.front_door``), an
AWS host by the region in its name, anything else by the pack config ``frontDoorSites`` (address or host ->
jurisdiction; ``infra check`` fills it from ``frontDoor.secondary``). Unknown is a violation: a name that may
answer with a place nobody vouched for is not in the jurisdiction. Records of private zones created by the stack
and names beginning with ``_`` (ACM validation tokens, service labels: not hosts) are not front doors.
During a preview a value computed from another resource is unknown; an unknown alias name is judged by its zone,
an unknown health-check host by the alias it probes (the same NLB) — never passed unseen where it can be judged.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import Config, View, as_list, as_mapping, stack_policy
from residency import JURISDICTIONS, Jurisdiction, jurisdiction_for_region
from residency.front_door import CLOUDFRONT_ALIAS_ZONE, GLOBAL_ACCELERATOR_ALIAS_ZONE, region_of_alias_zone

RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ZONE = "aws:route53/zone:Zone"
ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
# Routing policies that answer by the client's place or spread over sites: a geolocation record's default ('*')
# answers every location, latency and geoproximity pick the "closest" site whatever its jurisdiction.
_SPREADING = {
    "geolocationRoutingPolicies": "geolocation",
    "latencyRoutingPolicies": "latency",
    "geoproximityRoutingPolicy": "geoproximity",
    "weightedRoutingPolicies": "weighted",
    "cidrRoutingPolicy": "CIDR",
    "multivalueAnswerRoutingPolicy": "multivalue",
}
_ADDRESS_TYPES = {"A", "AAAA", "CNAME"}
_AWS_REGION_IN_HOST = re.compile(
    r"(?:^|\.)([a-z]{2}(?:-[a-z]+)+-\d)\.(?:elb\.)?amazonaws\.com\.?$|\.elb\.([a-z]{2}(?:-[a-z]+)+-\d)\."
)
_UNKNOWN = object()


def _get(mapping: Any, key: str) -> Any:
    try:
        return as_mapping(mapping).get(key)
    except UnknownValueError:
        return _UNKNOWN


def _items(sequence: Any) -> list[Any]:
    try:
        items = as_list(sequence)
        out = []
        for index in range(len(items)):
            try:
                out.append(items[index])
            except UnknownValueError:
                out.append(_UNKNOWN)
        return out
    except UnknownValueError:
        return [_UNKNOWN]


def place_of(target: str, declared: Mapping[str, Any]) -> Jurisdiction | None:
    """The jurisdiction an address or host lies in, or None when nothing says."""
    host = target.rstrip(".").lower()
    value = str(declared.get(host) or "")
    if value in JURISDICTIONS:
        return JURISDICTIONS[value]
    try:
        ipaddress.ip_address(host)
        return None  # an undeclared address: nobody vouched for it
    except ValueError:
        pass
    found = _AWS_REGION_IN_HOST.search(host)
    if found:
        return jurisdiction_for_region(found[1] or found[2])
    return None


def _private_zone_urns(views: list[View]) -> set[str]:
    return {v.urn for v in views if v.type == ZONE and _items(_get(v.props, "vpcs")) not in ([], [None])}


def _record_problems(view: View, here: Jurisdiction, declared: Mapping[str, Any], nlb_names: set[str]) -> list[str]:
    name = str(_get(view.props, "name") or "")
    problems = []
    if name.startswith("*") or "*." in name:
        problems.append(f"{view.name}: wildcard record {name} answers every name under it (a catch-all)")
    for key, what in _SPREADING.items():
        value = _get(view.props, key)
        if value not in (None, [], {}, False):
            problems.append(
                f"{view.name}: {what} routing on {name} can answer with a site outside {here.id}; use failover only"
            )
    for alias in _items(_get(view.props, "aliases")):
        zone = _get(alias, "zoneId")
        target = _get(alias, "name")
        if zone is _UNKNOWN:
            problems.append(
                f"{view.name}: alias of {name} to a zone unknown before deploy: its region cannot be judged"
            )
            continue
        if zone in (CLOUDFRONT_ALIAS_ZONE, GLOBAL_ACCELERATOR_ALIAS_ZONE):
            service = "CloudFront" if zone == CLOUDFRONT_ALIAS_ZONE else "Global Accelerator"
            problems.append(f"{view.name}: {name} is an alias to {service}, which answers from outside {here.id}")
            continue
        region = region_of_alias_zone(str(zone))
        where = jurisdiction_for_region(region) if region else None
        if where is None:
            problems.append(f"{view.name}: {name} is an alias into zone {zone}, not a known NLB zone of {here.id}")
        elif where.id != here.id:
            problems.append(f"{view.name}: {name} is an alias to an NLB in {region} ({where.id}), outside {here.id}")
        elif isinstance(target, str):
            named = place_of(target, {})
            if named is not None and named.id != here.id:
                problems.append(f"{view.name}: {name} names {target} ({named.id}), outside {here.id}")
            else:
                nlb_names.add(target.rstrip(".").lower())
    for value in _items(_get(view.props, "records")):
        if value is _UNKNOWN or value is None:
            continue
        where = place_of(str(value), declared)
        if where is None:
            problems.append(
                f"{view.name}: {name} answers {value}, whose jurisdiction is unknown (declare the site in "
                f"frontDoor.secondary)"
            )
        elif where.id != here.id:
            problems.append(f"{view.name}: {name} answers {value}, a site of {where.id}, outside {here.id}")
    return problems


def _pair_problems(records: list[View]) -> list[tuple[View | None, str]]:
    """Failover records: one PRIMARY and one SECONDARY per name and type, each with a health check."""
    out: list[tuple[View | None, str]] = []
    groups: dict[tuple[str, str, str], list[tuple[View, str]]] = defaultdict(list)
    for view in records:
        kinds = [str(_get(p, "type")) for p in _items(_get(view.props, "failoverRoutingPolicies")) if p is not _UNKNOWN]
        if not kinds:
            continue
        key = (str(_get(view.props, "zoneId")), str(_get(view.props, "name")), str(_get(view.props, "type")))
        groups[key].append((view, kinds[0]))
        if not _get(view.props, "healthCheckId"):
            out.append((view, f"{view.name}: failover {kinds[0]} record of {key[1]} has no health check"))
    for (_, name, kind), members in groups.items():
        found = sorted(role for _, role in members)
        if found != ["PRIMARY", "SECONDARY"]:
            out.append(
                (
                    members[0][0],
                    f"{name} ({kind}) has failover records {found}: exactly one PRIMARY and one SECONDARY, each "
                    "health-checked",
                )
            )
    return out


@stack_policy("front-door-stays-in-jurisdiction")
def front_door_stays_in_jurisdiction(views: list[View], config: Config) -> list[tuple[View | None, str]]:
    declared = as_mapping(config.get("frontDoorSites", {}))
    private = _private_zone_urns(views)
    out: list[tuple[View | None, str]] = []
    records: list[View] = []
    nlb_names: set[str] = set()
    for view in views:
        if view.type != RECORD or view.dependencies & private:
            continue
        name = _get(view.props, "name")
        kind = _get(view.props, "type")
        if not isinstance(name, str) or name.startswith("_") or kind not in _ADDRESS_TYPES:
            continue
        here = config.stack_jurisdiction or view.location(config)[1]
        if here is None:
            out.append((view, f"{view.name}: public record {name} in a stack of unknown jurisdiction"))
            continue
        records.append(view)
        out += [(view, p) for p in _record_problems(view, here, declared, nlb_names)]
    out += _pair_problems(records)
    for view in views:
        here = config.stack_jurisdiction or view.location(config)[1]
        if here is None:
            continue
        if view.type == HEALTH_CHECK:
            out += [(view, p) for p in _health_check_problems(view, here, declared, nlb_names)]
        elif view.type == ENDPOINT_GROUP:
            region = _get(view.props, "endpointGroupRegion") or view.aws_region(config)
            where = jurisdiction_for_region(str(region)) if region is not _UNKNOWN else here
            if where is None or where.id != here.id:
                out.append(
                    (
                        view,
                        f"{view.name}: accelerator endpoint group in {region}, outside {here.id}: an accelerator "
                        "fails over to it when this jurisdiction's endpoints are unhealthy",
                    )
                )
        elif view.type == DISTRIBUTION:
            for origin in _items(_get(view.props, "origins")):
                domain = _get(origin, "domainName")
                if domain is _UNKNOWN or origin is _UNKNOWN:
                    continue
                where = place_of(str(domain), declared)
                if where is None or where.id != here.id:
                    out.append(
                        (
                            view,
                            f"{view.name}: CloudFront origin {domain} is "
                            f"{'of unknown jurisdiction' if where is None else 'in ' + where.id}, outside {here.id}",
                        )
                    )
    return out


def _health_check_problems(
    view: View, here: Jurisdiction, declared: Mapping[str, Any], nlb_names: set[str]
) -> list[str]:
    kind = _get(view.props, "type")
    if kind in ("CALCULATED", "CLOUDWATCH_METRIC", "RECOVERY_CONTROL"):
        return []  # no endpoint of their own
    address = _get(view.props, "ipAddress")
    fqdn = _get(view.props, "fqdn")
    # With an address Route 53 probes the address (the FQDN is only the Host header and SNI).
    target = address if address not in (None, "") else fqdn
    if target is _UNKNOWN:
        return []
    if not isinstance(target, str) or not target:
        return [f"{view.name}: health check without an address or host"]
    if target.rstrip(".").lower() in nlb_names:
        return []
    where = place_of(target, declared)
    if where is None:
        return [f"{view.name}: health check probes {target}, whose jurisdiction is unknown"]
    if where.id != here.id:
        return [f"{view.name}: health check probes {target} in {where.id}, outside {here.id}"]
    return []
