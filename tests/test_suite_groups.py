"""The suite's own grouping (tests/conftest.py): every network-namespace lab runs in the one netns group."""

from __future__ import annotations

import importlib
from pathlib import Path

from tests.conftest import NETNS_GATES, uses_netns

TESTS = Path(__file__).resolve().parent
# What a module that builds a lab says somewhere in its source.
LAB_WORDS = ("VpnLab", "ip netns", "netns exec")


def modules_that_build_labs() -> list[str]:
    return sorted(
        path.stem
        for path in TESTS.glob("test_*.py")
        if path.name != Path(__file__).name and any(word in path.read_text() for word in LAB_WORDS)
    )


def test_every_module_that_builds_a_netns_lab_runs_in_the_netns_group() -> None:
    modules = modules_that_build_labs()
    assert {"test_vpn_end_to_end", "test_vpn_negotiation"} <= set(modules)  # the lab modules are found at all
    for name in modules:
        assert uses_netns(importlib.import_module(f"tests.{name}")), (
            f"tests/{name}.py builds a network-namespace lab but imports none of {sorted(NETNS_GATES)}: "
            "it would run beside the other labs, and skip instead of failing under CI=true"
        )


def test_a_module_without_a_gate_is_not_in_the_netns_group() -> None:
    assert not uses_netns(importlib.import_module("tests.test_swanctl_render"))
