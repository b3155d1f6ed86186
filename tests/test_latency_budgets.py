"""Markets, site locations, the network floor, latency config errors and the per-market report."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from infra.latency import latency_section, named_stack_configs
from infra.project import load_project
from infra.render.latency_markdown import render_latency_markdown
from infra.render.latency_terminal import render_latency
from residency.markets import (
    AWS_REGION_LOCATIONS,
    MARKETS,
    Location,
    country_problem,
    great_circle_km,
    network_floor_ms,
)
from stackconfig import parse_stack_config
from stackconfig.errors import ConfigError
from tests.stack_runs import ROOT

PROJECT = load_project(ROOT)
KEY = "hybrid-llm-infra:latency"


def test_great_circle_matches_published_distances() -> None:
    # London Heathrow - New York JFK is 5,540 km (5,539 on the WGS84 ellipsoid); the sphere is within 0.5 %.
    lhr, jfk = Location("LHR", 51.470, -0.4543), Location("JFK", 40.6413, -73.7781)
    assert great_circle_km(lhr, jfk) == pytest.approx(5540, rel=0.005)
    assert great_circle_km(lhr, lhr) == 0
    # A quarter of a meridian: pi/2 x mean radius.
    assert great_circle_km(Location("pole", 90, 0), Location("equator", 0, 0)) == pytest.approx(math.pi / 2 * 6371.0088)


def test_floor_is_round_trip_at_two_thirds_c_times_stretch() -> None:
    frankfurt, berlin = AWS_REGION_LOCATIONS["eu-central-1"], MARKETS["DE"].location
    km = great_circle_km(frankfurt, berlin)
    assert 420 < km < 430  # Frankfurt - Berlin, 424 km
    one_way_ms = km / (299_792.458 * 2 / 3 / 1000)
    assert network_floor_ms(berlin, frankfurt, 1.0) == pytest.approx(2 * one_way_ms)
    assert network_floor_ms(berlin, frankfurt, 2.1) == pytest.approx(2 * one_way_ms * 2.1)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("DE", None),
        ("AE", None),
        ("de", "not an ISO 3166-1 alpha-2 code"),
        ("DEU", "not an ISO 3166-1 alpha-2 code"),
        ("XX", "unknown country code 'XX'"),
        ("US", "US belongs to no jurisdiction the project knows"),
    ],
)
def test_country_codes(code: str, expected: str | None) -> None:
    problem = country_problem(code)
    assert (problem is None) if expected is None else (problem is not None and problem.startswith(expected))


def test_every_market_and_region_is_in_a_known_jurisdiction() -> None:
    from residency import JURISDICTIONS

    assert {m.jurisdiction for m in MARKETS.values()} <= set(JURISDICTIONS)
    regions = {r for j in JURISDICTIONS.values() for r in j.aws_regions}
    assert regions <= set(AWS_REGION_LOCATIONS), "every region of ours needs a location"


def _with_latency(stack: str, change: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    raw = dict(PROJECT.stack(stack).config)
    value = json.loads(raw[KEY])
    change(value)
    raw[KEY] = json.dumps(value)
    return raw


def _problems(raw: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_stack_config(raw)
    return [str(p) for p in exc.value.problems]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            doc = doc.setdefault(part, {})
        doc[last] = value

    return change


BAD = [
    (
        _set("markets.DE.ttftBudgetMs", 1000),
        f"{KEY}.markets.DE.ttftBudgetMs: DE (Germany): no EU site meets 1000 ms; non-restricted data: nearest "
        "frankfurt has a 8.9 ms network floor + 1200 ms TTFT SLO = 1208.9 ms; restricted data: nearest onprem has "
        "a 10.6 ms network floor + 1200 ms TTFT SLO = 1210.6 ms",
    ),
    (
        # Frankfurt meets 1209 ms (1208.9) for non-restricted data; restricted data only from Munich (1210.6).
        _set("markets.DE.ttftBudgetMs", 1209),
        f"{KEY}.markets.DE.ttftBudgetMs: DE (Germany): no EU site meets 1209 ms; restricted data: nearest onprem",
    ),
    (_set("markets.DE.ttftBudgetMs", 0), f"{KEY}.markets.DE.ttftBudgetMs: Input should be greater than 0"),
    (_set("markets.US", {"ttftBudgetMs": 900}), f"{KEY}.markets.US: US belongs to no jurisdiction"),
    (_set("markets.ZZ", {"ttftBudgetMs": 900}), f"{KEY}.markets.ZZ: unknown country code 'ZZ'"),
    (_set("markets.de", {"ttftBudgetMs": 900}), f"{KEY}.markets.de: not an ISO 3166-1 alpha-2 code"),
    (
        _set("slos.default.windowDays", 2),
        f"{KEY}.slos.default.windowDays: 2d is shorter than the longest burn-rate alert window (3d)",
    ),
    (
        _set("slos.models.qwen25-32b.availability", 1),
        f"{KEY}.slos.models.qwen25-32b.availability: Input should be less than 1",
    ),
    (_set("sites.onprem.country", "US"), f"{KEY}.sites.onprem.country: US belongs to no jurisdiction"),
    (_set("sites.dubai", {"region": "us-east-1"}), f"{KEY}.sites.dubai.region: 'us-east-1' is no region of ours"),
    (_set("sites.onprem.region", "eu-central-1"), f"{KEY}.sites.onprem: give either region (AWS) or country"),
    (lambda d: d["sites"].pop("dubai"), f"{KEY}.sites: site 'dubai' has no location"),
]


@pytest.mark.parametrize(("change", "expected"), BAD)
def test_bad_latency_input_is_a_config_error_naming_the_key(
    change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    problems = _problems(_with_latency("frankfurt", change))
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_a_stack_whose_site_is_located_in_another_region_is_refused() -> None:
    raw = _with_latency("frankfurt", _set("sites.frankfurt.region", "eu-west-1"))
    assert _problems(raw) == [
        f"{KEY}.sites.frankfurt.region: 'eu-west-1' but this stack deploys to aws:region eu-central-1"
    ]


def test_bad_latency_input_registers_nothing() -> None:
    import dataclasses

    from infra.engine import run_stack

    base = PROJECT.stack("onprem")
    raw = _with_latency("onprem", _set("markets.PT.ttftBudgetMs", 1))
    run = run_stack(PROJECT, dataclasses.replace(base, config=raw))
    assert run.resources == []
    assert any(
        p.startswith(f"{KEY}.markets.PT.ttftBudgetMs: PT (Portugal): no EU site meets 1 ms;") for p in run.problems
    )


def _shipped_section() -> dict[str, Any]:
    section = latency_section(
        list(named_stack_configs({n: PROJECT.stack(n).config for n in PROJECT.stack_names()}).values())
    )
    assert section is not None
    return section


def test_restricted_uae_data_is_unservable_and_never_routed_to_the_eu() -> None:
    ae = next(m for m in _shipped_section()["markets"] if m["country"] == "AE")
    scopes = {s["scope"]: s for s in ae["scopes"]}
    assert scopes["restricted"]["servable"] is False and scopes["restricted"]["routes"] == []
    assert "no on-prem site in UAE" in scopes["restricted"]["reason"]
    assert [r["site"] for r in scopes["non-restricted"]["routes"]] == ["dubai"]


def test_eu_markets_see_only_eu_sites_restricted_only_onprem() -> None:
    for market in _shipped_section()["markets"]:
        if market["jurisdiction"] != "EU":
            continue
        scopes = {s["scope"]: s for s in market["scopes"]}
        assert {r["site"] for r in scopes["non-restricted"]["routes"]} == {"frankfurt", "onprem"}
        assert [r["site"] for r in scopes["restricted"]["routes"]] == ["onprem"]
        restricted_models = {m["model"] for m in scopes["restricted"]["routes"][0]["models"]}
        assert restricted_models == {"llama-31-8b", "qwen25-32b"}
        for route in scopes["restricted"]["routes"]:
            for model in route["models"]:
                assert model["totalMs"] == pytest.approx(route["floorMs"] + model["ttftSloMs"], abs=0.1)
                assert model["fits"] == (model["totalMs"] <= market["ttftBudgetMs"])


def test_a_model_over_budget_is_marked_in_every_format() -> None:
    configs = list(named_stack_configs({n: PROJECT.stack(n).config for n in PROJECT.stack_names()}).values())
    # Validation forbids this config; the report must still say "over" if it ever saw it (e.g. a stack left out).
    latency = configs[0].latency
    tight = latency.model_copy(
        update={"markets": {"PT": latency.markets["PT"].model_copy(update={"ttft_budget_ms": 1000.0})}}
    )
    configs = [c.model_copy(update={"latency": tight}) for c in configs]
    section = latency_section(configs)
    assert section is not None
    (pt,) = section["markets"]
    restricted = next(s for s in pt["scopes"] if s["scope"] == "restricted")
    verdicts = {m["model"]: m["fits"] for m in restricted["routes"][0]["models"]}
    assert verdicts == {"llama-31-8b": True, "qwen25-32b": False} and restricted["fits"] is False
    assert "qwen25-32b: 41.3 + SLO 1200 = 1241.3 ms  OVER BUDGET" in render_latency(section)
    assert "| `qwen25-32b` | 1200 | 1241.3 | 1000 | ❌ over budget |" in render_latency_markdown(section)


def test_infra_check_reports_latency_in_json_terminal_and_markdown() -> None:
    def infra(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "infra", "check", "--no-policy", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    doc = json.loads(infra("--format", "json"))
    assert [m["country"] for m in doc["latency"]["markets"]] == ["AE", "DE", "FR", "NL", "PT"]
    assert doc["latency"]["pathStretch"] == 2.1
    terminal = infra()
    # stdout is a pipe here: symbols are spelled out in ASCII (issue 18; tests/test_terminal_render.py)
    assert "[none] restricted: no on-prem site in UAE: unservable" in terminal
    assert "frankfurt (aws, Frankfurt, 423.6 km): floor 8.9 ms" in terminal
    markdown = infra("--format", "markdown")
    assert "## Latency budgets per market" in markdown
    assert (
        "| DE Germany (EU) | restricted | onprem (onprem) | 504.3 | 10.6 | `qwen25-32b` | 1200 | 1210.6 | 1500 | ✅ fits |"
        in markdown
    )
