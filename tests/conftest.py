"""The mock harness: Pulumi's own mock engine with the tool's offline mocks (moto's AWS data).

Every test that uses ``pulumi_mocks`` gets a fresh event loop and a reset Pulumi runtime, and
waits for every outstanding registration before it asserts (so nothing passes unseen).

It also groups the tests for ``make unit`` (pytest-xdist, ``--dist loadgroup``): a worker runs a group whole,
so a module's shared fixture is built once and the network-namespace labs run one after another.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pulumi
import pytest
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from infra.mocks import Capture, CapturedResource, OfflineMocks, RecordingMonitor, StackOutputs

ROOT = Path(__file__).resolve().parent.parent
SHARED_SCHEMAS = ROOT.parent / "shared" / "schemas"


def pytest_configure(config: pytest.Config) -> None:
    # A non-interactive shell starts a background job (`make test &`, `nohup ... &`) with SIGINT ignored, and an
    # ignored signal stays ignored across exec: every policy pack the tests start would then ignore the SIGINT
    # PolicyPackProcess.close() sends and be SIGKILLed after the grace (seen: 5 s per `infra check` subprocess,
    # a 300 s wait and a failure in the analyzer's clean-exit tests). A handled signal is reset to the default on
    # exec, so a handler here (Python's own) gives every child the SIGINT it would get from an interactive shell.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class MockStack:
    """A Pulumi runtime under mocks for one test."""

    def __init__(self, region: str | None, references: dict[str, StackOutputs]) -> None:
        self.capture = Capture()
        self.mocks = OfflineMocks(self.capture, default_region=region, references=references)
        runtime_settings.reset_options(project="hybrid-llm-infra", stack="test", organization="organization")
        runtime_config.set_all_config({"aws:region": region} if region else {}, [])
        pulumi_mocks.set_mocks(
            self.mocks,
            project="hybrid-llm-infra",
            stack="test",
            preview=False,
            organization="organization",
            monitor=RecordingMonitor(self.mocks, self.capture),
        )

    def settle(self) -> None:
        """Wait until every registration and output of the program so far has completed."""
        _sync_await(wait_for_rpcs())

    def resolve(self, value: Any) -> Any:
        self.settle()
        return _sync_await(pulumi.Output.from_input(value).future())

    def is_secret(self, value: Any) -> bool:
        return bool(_sync_await(pulumi.Output.from_input(value).is_secret()))

    def of_type(self, type_token: str) -> list[CapturedResource]:
        self.settle()
        return [r for r in self.capture.resources.values() if r.type == type_token]

    def named(self, type_token: str, name: str) -> CapturedResource:
        matches = [r for r in self.of_type(type_token) if r.name == name]
        assert len(matches) == 1, f"expected one {type_token} named {name}, found {len(matches)}"
        return matches[0]


@pytest.fixture
def pulumi_mocks_factory() -> Iterator[Any]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def make(region: str | None = "eu-central-1", references: dict[str, StackOutputs] | None = None) -> MockStack:
        return MockStack(region, references or {})

    try:
        yield make
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        runtime_settings.reset_options()
        runtime_config.set_all_config({}, [])


@pytest.fixture
def mock_stack(pulumi_mocks_factory: Any) -> MockStack:
    stack: MockStack = pulumi_mocks_factory()
    return stack


# -- grouping for pytest-xdist (make unit: -n auto; --dist loadgroup in pyproject) --

NETNS_GROUP = "netns"
# The gates every network-namespace test calls (they skip without root, and fail under CI=true). A module that
# imports one runs in the netns group, on one worker, one lab at a time: the labs' timing bounds (DPD, failover)
# hold on a quiet worker, and a lab's CPU is not doubled on a 2-core machine. A new lab's gate goes here.
NETNS_GATES = {("tests.vpn_harness", "require_netns"), ("tests.bgp_lab", "require_bgp_lab")}


def uses_netns(module: ModuleType) -> bool:
    for value in vars(module).values():
        if isinstance(value, ModuleType):
            if any(name == value.__name__ and hasattr(value, gate) for name, gate in NETNS_GATES):
                return True
        elif (getattr(value, "__module__", None), getattr(value, "__name__", None)) in NETNS_GATES:
            return True
    return False


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    """Whether the test uses a module- or class-scoped fixture (a pack process, a moto server, a git repo)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in getattr(item, "fixturenames", ()):
        definitions = info.name2fixturedefs.get(name)
        if definitions and definitions[-1].scope in ("module", "class"):
            return True
    return False


def xdist_group_of(item: pytest.Item) -> str | None:
    """The group a test runs in under ``--dist loadgroup``; None: any worker, on its own."""
    module = getattr(item, "module", None)
    if module is not None and uses_netns(module):
        return NETNS_GROUP
    if _shares_a_module_fixture(item):
        return "module:" + item.nodeid.split("::", 1)[0]  # the module's fixture is then built once
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = {item: xdist_group_of(item) for item in items}
    for item, group in groups.items():
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    if hasattr(config, "workerinput"):  # an xdist worker: its order is the order the groups are handed out in
        # The netns group first: it mostly waits (DPD, failover), so it overlaps the rest only if it starts at
        # once. Then the other groups, largest first (what xdist's own --loadscope-reorder does, switched off in
        # pyproject so this order holds); single tests fill the gaps. A stable sort: each group keeps its order.
        sizes = Counter(groups.values())

        def rank(item: pytest.Item) -> tuple[bool, int]:
            group = groups[item]
            return group != NETNS_GROUP, -sizes[group] if group is not None else 0

        items.sort(key=rank)
