"""Bad front-door input stops the run before anything is registered, one line naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from stackconfig import AwsStackConfig, ConfigError, parse_stack_config
from stacks.front_door import check_front_door
from tests.test_config import problems_of, stack_config, with_object

KEY = "hybrid-llm-infra:frontDoor"


def frankfurt_with(change: Any) -> dict[str, str]:
    return with_object(stack_config("frankfurt"), KEY, change)


def test_shipped_front_doors_parse() -> None:
    eu = parse_stack_config(stack_config("frankfurt"))
    uae = parse_stack_config(stack_config("dubai"))
    assert isinstance(eu, AwsStackConfig) and isinstance(uae, AwsStackConfig)
    assert eu.front_door and eu.front_door.hostname == "eu.models.example.com"
    assert eu.front_door.secondary and eu.front_door.secondary.jurisdiction == "EU"
    assert uae.front_door and uae.front_door.hostname == "ae.models.example.com" and uae.front_door.secondary is None
    check_front_door(eu)  # both regions have an NLB alias zone
    check_front_door(uae)


def test_a_hostname_outside_the_zone_is_refused() -> None:
    raw = frankfurt_with(lambda d: d.update(hostname="eu.models.example.org"))
    assert problems_of(raw) == [
        f"{KEY}.hostname: eu.models.example.org is not inside the zone models.example.com (zone.name)"
    ]


def test_the_zone_apex_or_a_lookalike_suffix_is_not_inside_the_zone() -> None:
    assert problems_of(frankfurt_with(lambda d: d.update(hostname="evilmodels.example.com")))[0].startswith(
        f"{KEY}.hostname: evilmodels.example.com is not inside"
    )
    assert problems_of(frankfurt_with(lambda d: d.update(hostname="*.models.example.com")))[0].startswith(
        f"{KEY}.hostname: must be a lowercase fully qualified DNS name"
    )


def test_a_secondary_site_in_another_jurisdiction_is_refused() -> None:
    raw = frankfurt_with(lambda d: d["secondary"].update(jurisdiction="UAE"))
    assert problems_of(raw) == [
        f"{KEY}.secondary.jurisdiction: onprem is in UAE; a EU hostname fails over only to a site of EU"
    ]


@pytest.mark.parametrize(
    ("drop", "path"),
    [
        (lambda d: d.pop("healthCheck"), f"{KEY}.healthCheck"),
        (lambda d: d["secondary"].pop("healthCheck"), f"{KEY}.secondary.healthCheck"),
    ],
)
def test_a_missing_health_check_is_refused(drop: Any, path: str) -> None:
    assert problems_of(frankfurt_with(drop)) == [f"{path}: required"]


def test_a_private_secondary_address_is_refused() -> None:
    [problem] = problems_of(frankfurt_with(lambda d: d["secondary"].update(address="10.10.0.5")))
    assert problem.startswith(f"{KEY}.secondary.address: must be a public address")


def test_bad_health_check_values_are_refused() -> None:
    [problem] = problems_of(frankfurt_with(lambda d: d["healthCheck"].update(requestInterval=5)))
    assert problem.startswith(f"{KEY}.healthCheck.requestInterval:")
    [problem] = problems_of(frankfurt_with(lambda d: d["healthCheck"].update(type="HTTP")))
    assert problem.startswith(f"{KEY}.healthCheck.type:")


def test_a_region_without_a_known_nlb_alias_zone_is_refused_before_anything_is_registered() -> None:
    shipped = parse_stack_config(stack_config("frankfurt"))
    assert isinstance(shipped, AwsStackConfig)
    # An EU region (valid for the stack) whose NLB alias zone residency.front_door does not list.
    config = shipped.model_copy(update={"aws_region": "eu-central-2"})
    with pytest.raises(ConfigError) as info:
        check_front_door(config)
    [problem] = [str(p) for p in info.value.problems]
    assert problem.startswith(f"{KEY}: no NLB alias zone known for eu-central-2")


def test_a_misspelt_secondary_site_is_refused() -> None:
    raw = frankfurt_with(lambda d: d["secondary"].update(site="onprm"))
    assert problems_of(raw) == [
        f"{KEY}.secondary.site: 'onprm' is not an on-prem site of hybrid-llm-infra:latency.sites "
        "(on-prem sites: onprem)"
    ]


def test_a_secondary_site_in_another_country_jurisdiction_is_refused() -> None:
    # The site said EU in frontDoor.secondary.jurisdiction, but the project places it in the UAE.
    raw = with_object(
        stack_config("frankfurt"), "hybrid-llm-infra:latency", lambda d: d["sites"]["onprem"].update(country="AE")
    )
    problems = problems_of(raw)
    assert (
        f"{KEY}.secondary.site: onprem is in UAE by its country (latency.sites.onprem.country), not in EU" in problems
    )
