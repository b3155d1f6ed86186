"""Change windows in the site's local time: ``infra window`` across a daylight-saving change, bad input refused,
and the deploy workflow asks before ``pulumi up`` with a logged emergency override."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.project import load_project
from stackconfig import parse_stack_config
from stackconfig.errors import ConfigError
from tests.stack_runs import ROOT

PROJECT = load_project(ROOT)
KEY = "hybrid-llm-infra:changeWindows"


def window(stack: str, at: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "infra", "window", stack, "--at", at], cwd=ROOT, capture_output=True, text=True
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("at", "code", "text"),
    [
        # Frankfurt: Mon-Thu 09:00-16:00 Europe/Berlin. The Monday before the spring change, 08:30 CET: closed.
        ("2027-03-22T07:30Z", 1, "next opens Mon 2027-03-22 09:00 Europe/Berlin (2027-03-22 08:00 UTC)"),
        ("2027-03-22T08:00Z", 0, "inside a change window until 2027-03-22 16:00 Europe/Berlin (2027-03-22 15:00 UTC)"),
        # The same UTC time a week later is 09:30 CEST: open; the window now closes at 14:00 UTC.
        ("2027-03-29T07:30Z", 0, "until 2027-03-29 16:00 Europe/Berlin (2027-03-29 14:00 UTC)"),
        ("2027-03-29T14:00Z", 1, "next opens Tue 2027-03-30 09:00 Europe/Berlin (2027-03-30 07:00 UTC)"),
        # Friday before the change: the next window is Monday, after it (07:00 UTC, no longer 08:00).
        ("2027-03-26T10:00+01:00", 1, "next opens Mon 2027-03-29 09:00 Europe/Berlin (2027-03-29 07:00 UTC)"),
        # Autumn: Thursday 2027-10-28 15:30 CEST is open; Monday 2027-11-01 08:30 UTC is 09:30 CET, open too.
        ("2027-10-28T13:30Z", 0, "until 2027-10-28 16:00 Europe/Berlin (2027-10-28 14:00 UTC)"),
        ("2027-11-01T07:30Z", 1, "next opens Mon 2027-11-01 09:00 Europe/Berlin (2027-11-01 08:00 UTC)"),
    ],
)
def test_infra_window_across_dst(at: str, code: int, text: str) -> None:
    returncode, output = window("frankfurt", at)
    assert returncode == code, output
    assert text in output


def test_dubai_has_no_dst_and_its_own_weekend() -> None:
    assert window("dubai", "2027-03-29T05:00Z")[0] == 0  # Monday 09:00 Dubai
    assert window("dubai", "2027-03-26T05:00Z")[0] == 1  # Friday


def test_bad_time_is_a_usage_error() -> None:
    assert window("frankfurt", "2027-03-29T09:30")[0] == 2  # no UTC offset
    assert window("frankfurt", "tomorrow")[0] == 2


def _problems(change: Any) -> list[str]:
    raw = dict(PROJECT.stack("frankfurt").config)
    value = json.loads(raw[KEY])
    change(value)
    raw[KEY] = json.dumps(value)
    with pytest.raises(ConfigError) as exc:
        parse_stack_config(raw)
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda v: v.update(timeZone="Europe/Frankfurt"), f"{KEY}.timeZone: unknown time zone 'Europe/Frankfurt'"),
        (lambda v: v["windows"][0].update(end="09:00"), f"{KEY}.windows[0].end: 09:00 is not after start 09:00"),
        (lambda v: v["windows"][0].update(days=[]), f"{KEY}.windows[0].days: List should have at least 1 item"),
        (lambda v: v.update(windows=[]), f"{KEY}.windows: List should have at least 1 item"),
        (lambda v: v["windows"][0].update(days=["monday"]), f"{KEY}.windows[0].days[0]: Input should be 'mon'"),
    ],
)
def test_windows_that_never_open_or_bad_zones_are_refused(change: Any, expected: str) -> None:
    problems = _problems(change)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_the_deploy_asks_before_pulumi_up_and_logs_an_override() -> None:
    workflow = yaml.load((ROOT / ".github/workflows/pulumi-up.yml").read_text(), Loader=yaml.BaseLoader)
    steps = workflow["jobs"]["up"]["steps"]
    names = [s.get("name", "") for s in steps]
    gate = names.index("change window of ${{ inputs.stack }}")
    assert gate < names.index("pulumi up ${{ inputs.stack }}")
    step = steps[gate]
    assert step["env"]["EMERGENCY_REASON"] == "${{ inputs.emergency_reason }}"
    # The inputs reach the script through the environment (never interpolated into it).
    assert "${{" not in step["run"] and 'infra window "$STACK"' in step["run"]
    assert "::warning::EMERGENCY OVERRIDE" in step["run"] and "exit 1" in step["run"]
    deploy = yaml.load((ROOT / ".github/workflows/deploy.yml").read_text(), Loader=yaml.BaseLoader)
    for job in ("frankfurt", "dubai", "onprem"):
        assert deploy["jobs"][job]["with"]["emergency_reason"] == "${{ inputs.emergency_reason || '' }}"


def test_the_gate_script_blocks_and_overrides(tmp_path: Path) -> None:
    """The step's script under bash with a stand-in for ``infra window``: closed blocks, a reason overrides."""
    workflow = yaml.load((ROOT / ".github/workflows/pulumi-up.yml").read_text(), Loader=yaml.BaseLoader)
    script = next(s["run"] for s in workflow["jobs"]["up"]["steps"] if s.get("name", "").startswith("change window"))
    fake = tmp_path / ".venv" / "bin" / "infra"
    fake.parent.mkdir(parents=True)

    def run(code: int, reason: str) -> subprocess.CompletedProcess[str]:
        fake.write_text(f"#!/bin/sh\nexit {code}\n")
        fake.chmod(0o755)
        env = {"STACK": "frankfurt", "EMERGENCY_REASON": reason, "ACTOR": "alice", "PATH": "/usr/bin:/bin"}
        return subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)

    assert run(0, "").returncode == 0
    blocked = run(1, "")
    assert blocked.returncode == 1 and "outside its change window" in blocked.stdout
    overridden = run(1, "hotfix for CVE-2027-1234")
    assert overridden.returncode == 0
    assert (
        "EMERGENCY OVERRIDE of the change window of frankfurt by alice: hotfix for CVE-2027-1234" in overridden.stdout
    )
