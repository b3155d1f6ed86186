"""Every answer a jurisdiction's hostname can give, by Route 53's documented failover semantics, is a site of that
jurisdiction: each shipped hostname's records as registered, every combination of healthy and unhealthy endpoints.

Semantics (residency.front_door.failover_answer; Route 53 Developer Guide, "Failover routing" and "How Amazon
Route 53 chooses records when health checking is configured"): the primary while healthy, else a healthy
secondary; both unhealthy: the primary; a record without a health check is always healthy.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest

from infra.mocks import CapturedResource
from residency import JURISDICTIONS, jurisdiction_for_region
from residency.front_door import RecordSet, failover_answer, region_of_alias_zone
from tests.stack_runs import shipped_runs
from tests.test_isolation_policy import stack_values

RECORD = "aws:route53/record:Record"
ZONE = "models.example.com"
JURISDICTION = {"frankfurt": "EU", "dubai": "UAE"}
EU, SITE_EU, AE = f"eu.{ZONE}", f"onprem.eu.{ZONE}", f"ae.{ZONE}"
# The EU's name, the EU on-prem site's own name (frontDoor.secondary.hostname), the UAE's name.
NAMES = {"frankfurt": [EU, SITE_EU], "dubai": [AE]}


def front_door_records(stack: str) -> dict[str, list[tuple[RecordSet, str]]]:
    """Hostname -> (record set, jurisdiction of its target) for the stack's public A records."""
    declared = stack_values(stack)["frontDoorSites"]
    names: dict[str, list[tuple[RecordSet, str]]] = defaultdict(list)
    for resource in shipped_runs()[stack].resources:
        inputs = resource.inputs
        if resource.type != RECORD or inputs.get("type") != "A" or not str(inputs.get("name", "")).endswith(ZONE):
            continue
        names[inputs["name"]].append(_record_set(resource, declared))
    return dict(names)


def _record_set(resource: CapturedResource, declared: dict[str, Any]) -> tuple[RecordSet, str]:
    inputs = resource.inputs
    failover = [p["type"] for p in inputs.get("failoverRoutingPolicies") or []]
    aliases = inputs.get("aliases") or []
    if aliases:
        region = region_of_alias_zone(aliases[0]["zoneId"])
        place = jurisdiction_for_region(region) if region else None
        target = f"{aliases[0]['name']} ({region})"
        checked = bool(inputs.get("healthCheckId")) or bool(aliases[0].get("evaluateTargetHealth"))
    else:
        [address] = inputs["records"]
        place = JURISDICTIONS.get(declared.get(address, ""))
        target = address
        checked = bool(inputs.get("healthCheckId"))
    record = RecordSet(resource.name, target, failover[0] if failover else None, checked)
    return record, place.id if place else "unknown"


def every_answer(records: list[tuple[RecordSet, str]]) -> list[tuple[dict[str, bool], str, str]]:
    """(health of each checked record, answer, its jurisdiction) for every combination of health."""
    sets = [r for r, _ in records]
    place = {r.target: j for r, j in records}
    checked = [r.identifier for r in sets if r.health_checked]
    out = []
    for states in itertools.product((True, False), repeat=len(checked)):
        healthy = dict(zip(checked, states, strict=True))
        answer = failover_answer(sets, healthy)
        assert answer is not None
        out.append((healthy, answer, place[answer]))
    return out


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_every_possible_answer_is_a_site_of_the_jurisdiction(stack: str) -> None:
    names = front_door_records(stack)
    assert sorted(names) == NAMES[stack]
    for records in names.values():
        outcomes = every_answer(records)
        assert len(outcomes) == 2 ** sum(r.health_checked for r, _ in records)
        assert {j for _, _, j in outcomes} == {JURISDICTION[stack]}, outcomes


def test_the_eu_name_fails_over_to_onprem_and_back() -> None:
    records = front_door_records("frankfurt")[EU]
    by_role = {r.failover: r for r, _ in records}
    primary, secondary = by_role["PRIMARY"], by_role["SECONDARY"]
    assert primary.health_checked and secondary.health_checked
    answers = {(h[primary.identifier], h[secondary.identifier]): a for h, a, _ in every_answer(records)}
    assert answers == {
        (True, True): primary.target,
        (True, False): primary.target,
        (False, True): secondary.target,  # the region is down: the EU on-prem site
        (False, False): primary.target,  # everything down: Route 53 answers the primary (still the EU)
    }
    assert secondary.target == "198.51.100.20" and "eu-central-1" in primary.target


def test_an_all_unhealthy_uae_never_answers_with_the_eu() -> None:
    uae = front_door_records("dubai")[AE]
    eu = [r for records in front_door_records("frankfurt").values() for r in records]
    eu_targets = {r.target for r, _ in eu}
    for _, answer, jurisdiction in every_answer(uae):
        assert answer not in eu_targets and jurisdiction == "UAE"
    # The UAE has one site: a simple record, whose answer no health state changes.
    assert [r.failover for r, _ in uae] == [None]


def test_the_sites_own_name_answers_only_the_site() -> None:
    """The name of the models only on-prem serves: one simple record, the site's address, whatever the health."""
    names = front_door_records("frankfurt")
    [(own, place)] = names[SITE_EU]
    assert own.failover is None and place == "EU"
    secondary = next(r for r, _ in names[EU] if r.failover == "SECONDARY")
    assert own.target == secondary.target
    assert {a for _, a, _ in every_answer(names[SITE_EU])} == {secondary.target}


def test_the_enumeration_catches_a_secondary_in_another_jurisdiction() -> None:
    records = front_door_records("frankfurt")[EU]
    planted = [(r, "UAE") if r.failover == "SECONDARY" else (r, j) for r, j in records]
    assert "UAE" in {j for _, _, j in every_answer(planted)}


def test_route53_failover_semantics() -> None:
    p = RecordSet("p", "primary", "PRIMARY", health_checked=True)
    s = RecordSet("s", "secondary", "SECONDARY", health_checked=True)
    assert failover_answer([p, s], {"p": True, "s": True}) == "primary"
    assert failover_answer([p, s], {"p": False, "s": True}) == "secondary"
    assert failover_answer([p, s], {"p": False, "s": False}) == "primary"
    unchecked = RecordSet("p", "primary", "PRIMARY")
    assert failover_answer([unchecked, s], {"s": True}) == "primary"  # no health check: always healthy
    assert failover_answer([RecordSet("a", "only")], {}) == "only"
    assert failover_answer([], {}) is None
    with pytest.raises(ValueError, match="at most one primary"):
        failover_answer([p, p, s], {"p": True, "s": True})
