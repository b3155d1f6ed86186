"""Across stacks: the site a jurisdiction's hostname fails over to has a front door whose certificate names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackconfig import StackConfig, parse_stack_config
from stackconfig.front_door_pairing import front_door_pairing_problems
from tests.test_config import stack_config, with_object
from tests.test_stacks_end_to_end import _copy_project, _infra

KEY = "hybrid-llm-infra:frontDoor"


def _configs(**changes: Any) -> list[tuple[str, StackConfig]]:
    out = []
    for stack in ("frankfurt", "dubai", "onprem"):
        raw = stack_config(stack)
        if stack in changes:
            raw = changes[stack](raw)
        out.append((stack, parse_stack_config(raw)))
    return out


def _problems(**changes: Any) -> dict[str, list[str]]:
    return {stack: [str(p) for p in ps] for stack, ps in front_door_pairing_problems(_configs(**changes)).items()}


def test_the_shipped_stacks_pair_up() -> None:
    assert _problems() == {}


def test_a_site_without_a_front_door_is_refused_where_a_hostname_fails_over_to_it() -> None:
    def drop(raw: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in raw.items() if k != KEY}

    assert _problems(onprem=drop) == {
        "onprem": [
            f"{KEY}: required: frankfurt fails eu.models.example.com over to this site (frankfurt's "
            "frontDoor.secondary), which has no front door to answer it"
        ]
    }


def test_a_certificate_without_the_names_sent_to_the_site_is_refused() -> None:
    def only_eu(raw: dict[str, str]) -> dict[str, str]:
        return with_object(raw, KEY, lambda d: d.update(hostnames=["eu.models.example.com"]))

    assert _problems(onprem=only_eu) == {
        "onprem": [
            f"{KEY}.hostnames: lacks onprem.eu.models.example.com: frankfurt's frontDoor sends it to this site, "
            "whose certificate must cover it"
        ]
    }


def test_a_secondary_no_stack_declares_is_left_to_whoever_runs_it() -> None:
    colo = {"country": "DE", "city": "Frankfurt", "latitude": 50.11, "longitude": 8.68}

    def elsewhere(raw: dict[str, str]) -> dict[str, str]:
        # A site the project knows (latency.sites) but no stack of it deploys.
        raw = with_object(raw, "hybrid-llm-infra:latency", lambda d: d["sites"].update(colo=colo))
        return with_object(raw, KEY, lambda d: d["secondary"].update(site="colo"))

    def drop(raw: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in raw.items() if k != KEY}

    assert _problems(frankfurt=elsewhere, onprem=drop) == {}


def test_infra_check_reports_it_on_the_sites_stack_and_fails(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    stack_file = project / "Pulumi.onprem.yaml"
    text = stack_file.read_text()
    assert "      - onprem.eu.models.example.com\n" in text
    stack_file.write_text(text.replace("      - onprem.eu.models.example.com\n", ""))
    result = _infra("check", "--no-policy", "--project-dir", str(project))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert [line for line in result.stderr.splitlines() if line.startswith(("onprem: ", "frankfurt: "))] == [
        f"onprem: {KEY}.hostnames: lacks onprem.eu.models.example.com: frankfurt's frontDoor sends it to this "
        "site, whose certificate must cover it"
    ]


def test_a_site_whose_stack_is_in_another_jurisdiction_is_refused_on_the_aws_stack() -> None:
    def dubai_points_at_onprem(raw: dict[str, str]) -> dict[str, str]:
        secondary = {
            "site": "onprem",
            "jurisdiction": "UAE",
            "address": "198.51.100.20",
            "healthCheck": {"path": "/healthz"},
        }
        return with_object(raw, KEY, lambda d: d.update(secondary=secondary))

    # The UAE stack's own config check cannot see where the on-prem stack is; across stacks it is caught.
    latency = "hybrid-llm-infra:latency"

    def onprem_in_uae(raw: dict[str, str]) -> dict[str, str]:
        return with_object(dubai_points_at_onprem(raw), latency, lambda d: d["sites"]["onprem"].update(country="AE"))

    assert _problems(dubai=onprem_in_uae) == {
        "dubai": [
            f"{KEY}.secondary.site: onprem is the site of stack onprem, which is in EU (deployment.jurisdiction); a "
            "UAE hostname fails over only inside UAE"
        ]
    }
