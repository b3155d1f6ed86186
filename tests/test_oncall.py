"""Follow-the-sun on-call: who is on duty around each shift boundary and a daylight-saving change, gaps refused,
and the Alertmanager configuration each cluster gets validated by the real ``amtool`` (prometheus-alertmanager)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.project import load_project
from stackconfig import parse_stack_config
from stackconfig.errors import ConfigError
from stackconfig.oncall import OnCallConfig, on_duty
from tests.oracles import require_tool
from tests.stack_runs import ROOT, shipped_runs

PROJECT = load_project(ROOT)
KEY = "hybrid-llm-infra:latency"
EU, UAE = "eu-oncall", "uae-oncall"


def amtool() -> str:
    return require_tool("amtool", "prometheus-alertmanager")


def shipped_on_call() -> OnCallConfig:
    return parse_stack_config(PROJECT.stack("onprem").config).latency.on_call


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Winter: Berlin CET (UTC+1) 07-19 = 06-18 UTC; Dubai (UTC+4) 21-10 = 17-06 UTC.
        ("2027-01-15T05:59", [UAE]),  # Berlin 06:59, Dubai 09:59
        ("2027-01-15T06:00", [EU]),  # Berlin 07:00 starts, Dubai 10:00 ends (end exclusive)
        ("2027-01-15T16:59", [EU]),
        ("2027-01-15T17:00", [EU, UAE]),  # Dubai 21:00: the handover hour
        ("2027-01-15T17:59", [EU, UAE]),
        ("2027-01-15T18:00", [UAE]),  # Berlin 19:00 ends
        ("2027-01-15T23:59", [UAE]),  # Dubai 03:59, past its midnight
        # Summer: Berlin CEST (UTC+2) 07-19 = 05-17 UTC.
        ("2027-07-15T04:59", [UAE]),
        ("2027-07-15T05:00", [EU, UAE]),  # Berlin 07:00, Dubai 09:00
        ("2027-07-15T06:00", [EU]),
        ("2027-07-15T16:59", [EU]),
        ("2027-07-15T17:00", [UAE]),  # Berlin 19:00 ends, Dubai 21:00 starts: no gap
        # Around the spring change (2027-03-28 01:00 UTC, CET -> CEST): the same UTC instant, a different answer.
        ("2027-03-27T05:30", [UAE]),  # Berlin 06:30 CET
        ("2027-03-28T05:30", [EU, UAE]),  # Berlin 07:30 CEST
        ("2027-03-28T01:30", [UAE]),  # Berlin 03:30, the skipped hour just passed
        # Around the autumn change (2027-10-31 01:00 UTC, CEST -> CET).
        ("2027-10-30T17:30", [UAE]),  # Berlin 19:30 CEST
        ("2027-10-31T17:30", [EU, UAE]),  # Berlin 18:30 CET
    ],
)
def test_on_duty_around_shift_boundaries_and_dst(instant: str, expected: list[str]) -> None:
    assert on_duty(shipped_on_call(), at(instant)) == expected


def _with_teams(change: Callable[[list[dict[str, Any]]], None]) -> list[str]:
    raw = dict(PROJECT.stack("frankfurt").config)
    value = json.loads(raw[KEY])
    change(value["onCall"]["teams"])
    raw[KEY] = json.dumps(value)
    with pytest.raises(ConfigError) as exc:
        parse_stack_config(raw)
    return [str(p) for p in exc.value.problems]


def _set(index: int, **fields: str) -> Callable[[list[dict[str, Any]]], None]:
    return lambda teams: teams[index].update(fields)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # 22:00 Dubai = 18:00 UTC: exact in winter, but in summer Berlin stops at 17:00 UTC.
        (
            _set(1, start="22:00"),
            f"{KEY}.onCall.teams: nobody is on duty 2027-03-28 17:00-18:00 UTC; 2027-03-29 17:00-18:00 UTC; "
            "2027-03-30 17:00-18:00 UTC and 214 more (in 2027; shifts: eu-oncall 07:00-19:00 Europe/Berlin, "
            "uae-oncall 22:00-10:00 Asia/Dubai)",
        ),
        (_set(1, timeZone="Asia/Dubay"), f"{KEY}.onCall.teams[1].timeZone: unknown time zone 'Asia/Dubay'"),
        (_set(0, end="07:00"), f"{KEY}.onCall.teams[0].end: equals start (07:00): the shift never opens"),
        (_set(0, start="07:10"), f"{KEY}.onCall.teams[0].start: must be on a quarter hour"),
        (_set(0, start="7:00"), f"{KEY}.onCall.teams[0].start: must be HH:MM"),
        (_set(1, name="eu-oncall"), f"{KEY}.onCall.teams[1].name: 'eu-oncall' is already the name of an earlier team"),
        (lambda teams: teams.pop(1), f"{KEY}.onCall.teams: nobody is on duty 2027-01-01 00:00-06:00 UTC"),
    ],
)
def test_bad_on_call_input_names_the_key(change: Callable[[list[dict[str, Any]]], None], expected: str) -> None:
    problems = _with_teams(change)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def _alertmanager(stack: str) -> dict[str, Any]:
    (release,) = [
        r
        for r in shipped_runs()[stack].resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("chart") == "kube-prometheus-stack"
    ]
    values: dict[str, Any] = release.inputs["values"]["alertmanager"]
    return values


@pytest.mark.parametrize("stack", ["frankfurt", "dubai", "onprem"])
def test_every_cluster_routes_to_the_team_on_duty_and_amtool_accepts_it(stack: str, tmp_path: Path) -> None:
    values = _alertmanager(stack)
    config = values["config"]
    assert values["alertmanagerSpec"]["secrets"] == ["pager-eu-oncall", "pager-uae-oncall"]
    routes = config["route"]["routes"]
    assert [(r["receiver"], r.get("active_time_intervals"), r.get("continue")) for r in routes[:2]] == [
        (EU, [f"{EU}-shift"], True),
        (UAE, [f"{UAE}-shift"], True),
    ]
    # Outside every shift the last route pages everyone (a muted route still matches, so the root would not).
    assert routes[2] == {"receiver": "all-teams", "mute_time_intervals": [f"{EU}-shift", f"{UAE}-shift"]}
    intervals = {i["name"]: i["time_intervals"] for i in config["time_intervals"]}
    assert intervals[f"{UAE}-shift"] == [
        {
            "times": [{"start_time": "21:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "10:00"}],
            "location": "Asia/Dubai",
        }
    ]
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            assert hook["http_config"]["authorization"]["credentials_file"].startswith("/etc/alertmanager/secrets/")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([amtool(), "check-config", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # The oracle can fail: an unknown location is refused.
    config["time_intervals"][0]["time_intervals"][0]["location"] = "Europe/Berlinn"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([amtool(), "check-config", str(path)], capture_output=True, text=True)
    assert done.returncode != 0
