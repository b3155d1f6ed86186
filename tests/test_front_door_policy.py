"""front-door-stays-in-jurisdiction through the real pack: a failing and a passing fixture for each way to break it,
the shipped stacks clean, and a planted cross-jurisdiction record failing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, cast

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from infra.analyzer import AnalyzedResource, PolicyPackProcess
from infra.policy_check import analyzed_resources, policy_config
from residency.front_door import CLOUDFRONT_ALIAS_ZONE, GLOBAL_ACCELERATOR_ALIAS_ZONE, NLB_ALIAS_ZONES
from tests.stack_runs import shipped_runs
from tests.test_isolation_policy import stack_values
from tests.test_policies import PACK, configure, res

POLICY = "front-door-stays-in-jurisdiction"
RECORD = "aws:route53/record:Record"
HEALTH = "aws:route53/healthCheck:HealthCheck"
ZONE_ID = "Z04517283EXAMPLEFD01"
HOST = "eu.models.example.com"
EU_NLB = "k8s-frontdoor-0123456789.elb.eu-central-1.amazonaws.com"
ONPREM = "198.51.100.20"


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(PACK) as process:
        yield process


@pytest.fixture
def eu(pack: PolicyPackProcess) -> PolicyPackProcess:
    configure(pack, frontDoorSites={ONPREM: "EU", "203.0.113.50": "UAE"})
    return pack


def findings(pack: PolicyPackProcess, *resources: AnalyzedResource) -> list[str]:
    return sorted(d.message for d in pack.analyze_stack(list(resources)) if d.policy_name == POLICY)


def record(resource_name: str, **props: Any) -> AnalyzedResource:
    return res(RECORD, resource_name, {"zoneId": ZONE_ID, "name": HOST, "type": "A", **props})


def primary(zone: str = NLB_ALIAS_ZONES["eu-central-1"], target: str = EU_NLB, **props: Any) -> AnalyzedResource:
    values: dict[str, Any] = {
        "setIdentifier": "frankfurt-primary",
        "failoverRoutingPolicies": [{"type": "PRIMARY"}],
        "healthCheckId": "hc-primary",
        "aliases": [{"name": target, "zoneId": zone, "evaluateTargetHealth": True}],
    }
    values.update(props)
    return record("primary", **values)


def secondary(address: str = ONPREM, **props: Any) -> AnalyzedResource:
    values: dict[str, Any] = {
        "setIdentifier": "onprem-secondary",
        "failoverRoutingPolicies": [{"type": "SECONDARY"}],
        "healthCheckId": "hc-secondary",
        "records": [address],
        "ttl": 60,
    }
    values.update(props)
    return record("secondary", **{k: v for k, v in values.items() if v is not None})


def health(name: str, **props: Any) -> AnalyzedResource:
    return res(HEALTH, name, {"type": "HTTPS", "port": 443, "resourcePath": "/healthz", **props})


def good() -> list[AnalyzedResource]:
    return [
        primary(),
        secondary(),
        health("hc-primary", fqdn=EU_NLB),
        health("hc-secondary", ipAddress=ONPREM, fqdn=HOST),
    ]


def test_the_eu_failover_pair_passes(eu: PolicyPackProcess) -> None:
    assert findings(eu, *good()) == []


def test_a_primary_in_another_jurisdictions_region_fails(eu: PolicyPackProcess) -> None:
    [message] = findings(eu, primary(zone=NLB_ALIAS_ZONES["me-central-1"]), secondary())
    assert "alias to an NLB in me-central-1 (UAE), outside EU" in message
    # A zone we cannot place is no better.
    [message] = findings(eu, primary(zone="Z1234567890ABC"), secondary())
    assert "not a known NLB zone" in message
    # Nor an alias whose name says another region, whatever the zone.
    [message] = findings(eu, primary(target="k8s-x.elb.me-central-1.amazonaws.com"), secondary())
    assert "(UAE), outside EU" in message


def test_a_secondary_in_another_jurisdiction_or_undeclared_fails(eu: PolicyPackProcess) -> None:
    [message] = findings(eu, primary(), secondary(address="203.0.113.50"))
    assert "answers 203.0.113.50, a site of UAE, outside EU" in message
    [message] = findings(eu, primary(), secondary(address="192.0.2.99"))
    assert "answers 192.0.2.99, whose jurisdiction is unknown" in message


def test_a_failover_record_without_a_health_check_fails(eu: PolicyPackProcess) -> None:
    [message] = findings(eu, primary(), secondary(healthCheckId=None))
    assert "failover SECONDARY record of eu.models.example.com has no health check" in message


def test_a_failover_record_without_its_partner_fails(eu: PolicyPackProcess) -> None:
    [message] = findings(eu, primary())
    assert "has failover records ['PRIMARY']: exactly one PRIMARY and one SECONDARY" in message


@pytest.mark.parametrize(
    ("routing", "word"),
    [
        ({"geolocationRoutingPolicies": [{"country": "*"}]}, "geolocation"),
        ({"latencyRoutingPolicies": [{"region": "eu-central-1"}]}, "latency"),
        ({"weightedRoutingPolicies": [{"weight": 10}]}, "weighted"),
    ],
)
def test_spreading_routing_fails(eu: PolicyPackProcess, routing: dict[str, Any], word: str) -> None:
    spread = record(
        "spread",
        setIdentifier="x",
        aliases=[{"name": EU_NLB, "zoneId": NLB_ALIAS_ZONES["eu-central-1"], "evaluateTargetHealth": True}],
        **routing,
    )
    [message] = findings(eu, spread)
    assert f"{word} routing on eu.models.example.com can answer with a site outside EU" in message


def test_a_wildcard_record_fails(eu: PolicyPackProcess) -> None:
    wildcard = res(
        RECORD, "wild", {"zoneId": ZONE_ID, "name": "*.models.example.com", "type": "A", "records": [ONPREM]}
    )
    [message] = findings(eu, wildcard)
    assert "wildcard record *.models.example.com answers every name under it" in message


@pytest.mark.parametrize("zone", [CLOUDFRONT_ALIAS_ZONE, GLOBAL_ACCELERATOR_ALIAS_ZONE])
def test_an_alias_to_a_global_service_fails(eu: PolicyPackProcess, zone: str) -> None:
    alias = record("cdn", aliases=[{"name": "d111111abcdef8.cloudfront.net", "zoneId": zone}])
    [message] = findings(eu, alias)
    assert "which answers from outside EU" in message


def test_a_health_check_probing_another_jurisdiction_fails(eu: PolicyPackProcess) -> None:
    [message] = findings(eu, *good()[:3], health("hc-secondary", ipAddress="203.0.113.50", fqdn=HOST))
    assert "health check probes 203.0.113.50 in UAE, outside EU" in message


def test_accelerator_endpoint_groups_stay_in_the_jurisdiction(eu: PolicyPackProcess) -> None:
    group = "aws:globalaccelerator/endpointGroup:EndpointGroup"
    home = res(group, "eu-group", {"listenerArn": "arn:x", "endpointGroupRegion": "eu-central-1"})
    away = res(group, "ae-group", {"listenerArn": "arn:x", "endpointGroupRegion": "me-central-1"})
    assert findings(eu, home) == []
    [message] = findings(eu, home, away)
    assert "accelerator endpoint group in me-central-1, outside EU" in message


def test_cloudfront_origins_stay_in_the_jurisdiction(eu: PolicyPackProcess) -> None:
    distribution = "aws:cloudfront/distribution:Distribution"
    home = res(distribution, "cdn", {"origins": [{"domainName": EU_NLB, "originId": "a"}]})
    away = res(
        distribution, "cdn", {"origins": [{"domainName": "k8s-x.elb.me-central-1.amazonaws.com", "originId": "a"}]}
    )
    unknown = res(distribution, "cdn", {"origins": [{"domainName": "origin.example.net", "originId": "a"}]})
    assert findings(eu, home) == []
    assert "is in UAE, outside EU" in findings(eu, away)[0]
    assert "is of unknown jurisdiction, outside EU" in findings(eu, unknown)[0]


def test_private_zone_records_and_validation_tokens_are_not_front_doors(eu: PolicyPackProcess) -> None:
    zone = res("aws:route53/zone:Zone", "private", {"name": "frankfurt.models.internal", "vpcs": [{"vpcId": "vpc-1"}]})
    private = res(
        RECORD,
        "model",
        {
            "zoneId": "Zprivate",
            "name": "m.frankfurt.models.internal",
            "type": "CNAME",
            "records": ["k8s-m.elb.amazonaws.com"],
        },
        dependencies=[zone.urn],
    )
    token = record("token", name="_abc.eu.models.example.com.", type="CNAME", records=["_x.acm-validations.aws."])
    assert findings(eu, zone, private, token) == []
    # The same CNAME in the public zone (no private zone behind it) is judged.
    public = res(
        RECORD,
        "model",
        {"zoneId": ZONE_ID, "name": "m.models.example.com", "type": "CNAME", "records": ["k8s-m.elb.amazonaws.com"]},
    )
    assert findings(eu, public) != []


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_the_shipped_front_doors_pass_and_are_judged(pack: PolicyPackProcess, stack: str) -> None:
    pack.configure(policy_config(pack, stack_values(stack)))
    resources = analyzed_resources(shipped_runs()[stack])
    assert any(
        r.type == RECORD and str(r.properties.get("name", "")).endswith(".models.example.com") for r in resources
    )
    assert findings(pack, *resources) == []


def test_a_planted_cross_jurisdiction_record_fails_the_shipped_stack(pack: PolicyPackProcess) -> None:
    pack.configure(policy_config(pack, stack_values("frankfurt")))
    resources = copy.deepcopy(analyzed_resources(shipped_runs()["frankfurt"]))
    [secondary_record] = [r for r in resources if r.type == RECORD and r.name == "frankfurt-front-door-dns-onprem"]
    props = cast(dict[str, Any], secondary_record.properties)
    props["records"] = ["203.0.113.50"]  # a site nobody declared for the EU
    [message] = findings(pack, *resources)
    assert "answers 203.0.113.50, whose jurisdiction is unknown" in message
    [primary_record] = [r for r in resources if r.type == RECORD and r.name == "frankfurt-front-door-dns-frankfurt"]
    cast(dict[str, Any], primary_record.properties)["aliases"][0]["zoneId"] = NLB_ALIAS_ZONES["me-central-1"]
    assert any("me-central-1 (UAE), outside EU" in m for m in findings(pack, *resources))


def test_infra_check_declares_the_configured_secondary() -> None:
    assert stack_values("frankfurt")["frontDoorSites"] == {ONPREM: "EU"}
    assert stack_values("dubai")["frontDoorSites"] == {}


def test_preview_unknowns_are_judged_where_they_can_be(eu: PolicyPackProcess) -> None:
    """During a preview the NLB's name (from the Service's status) is unknown: the alias is judged by its zone, the
    health check of the same NLB is not judged, and an unknown secondary address is left to the next run."""
    unknown_eu = primary(target=UNKNOWN_STRING_VALUE)
    checks = [health("hc-primary", fqdn=UNKNOWN_STRING_VALUE), health("hc-secondary", ipAddress=ONPREM, fqdn=HOST)]
    assert findings(eu, unknown_eu, secondary(), *checks) == []
    unknown_uae = primary(zone=NLB_ALIAS_ZONES["me-central-1"], target=UNKNOWN_STRING_VALUE)
    [message] = findings(eu, unknown_uae, secondary(), *checks)
    assert "alias to an NLB in me-central-1 (UAE), outside EU" in message
    # An unknown health-check id still counts as set (the program wrote one); a missing one does not.
    assert findings(eu, primary(healthCheckId=UNKNOWN_STRING_VALUE), secondary(), *checks) == []
