"""``infra check``'s pipeline: each stack is handed over as soon as its run ends and analysed meanwhile."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from infra.analyzer import PolicyPackStartError
from infra.engine import StackRun, run_in_order
from infra.order import run_order
from infra.policy_check import PackSession, StackChecks
from infra.project import load_project
from tests.stack_runs import ROOT, shipped_runs


@pytest.mark.parametrize("parallel", [True, False], ids=["forked", "in-process"])
def test_each_stack_is_handed_over_once_after_the_stacks_it_references(parallel: bool) -> None:
    project = load_project(ROOT)
    files, graph, order = run_order(project, project.stack_names())
    seen: list[StackRun] = []
    runs = run_in_order(project, files, graph, parallel=parallel, on_stack_done=seen.append)
    names = [run.stack for run in seen]
    assert sorted(names) == sorted(order)
    for name, references in graph.items():
        assert all(names.index(ref) < names.index(name) for ref in references)
    assert all(runs[run.stack] is run for run in seen)  # the caller gets the very runs it is returned
    assert all(run.ok and run.resources for run in seen)


def _configs() -> dict[str, dict[str, object]]:
    project = load_project(ROOT)
    return {name: dict(project.stack(name).config) for name in project.stack_names()}


def test_results_come_back_in_report_order_whatever_order_the_runs_arrive_in() -> None:
    runs = shipped_runs()
    order = ["frankfurt", "dubai", "onprem"]
    outcomes = []
    for arrival in (order, list(reversed(order))):
        session = PackSession()
        checks = StackChecks(session, order, _configs())
        try:
            checks.start()  # its thread boots the pack
            for name in arrival:
                checks.submit(runs[name])
            checks.submit(StackRun(stack="broken", problems=["hybrid-llm-infra:network.vpcCidr: not a CIDR"]))
            outcomes.append(checks.results())
        finally:
            session.close()
    first, second = outcomes
    assert list(first) == order and list(second) == order  # the stack with problems is not analysed
    for name in order:
        assert first[name].violations == second[name].violations
        assert first[name].policies == second[name].policies
        assert len(first[name].checked) == len(runs[name].resources)


def test_a_pack_that_cannot_boot_is_reported_by_results(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("raise SystemExit('no pack here')\n")
    session = PackSession(tmp_path)
    checks = StackChecks(session, ["frankfurt"], _configs())
    try:
        session.spawn()
        checks.start()
        checks.submit(shipped_runs()["frankfurt"])
        with pytest.raises(PolicyPackStartError, match="no pack here"):
            checks.results()
    finally:
        session.close()


# Run in a child process: it turns the cyclic GC off and freezes objects, as the `infra` command does.
_REPEATED_RUNS = textwrap.dedent(
    """
    import gc, json, sys
    from pathlib import Path
    gc.disable()
    from infra import engine
    from infra.project import load_project
    project = load_project(Path(".").resolve())
    counts = []
    for _ in range(4):
        if sys.argv[1] == "without-collection":
            engine._ran_in_this_process = False  # as if every run were the process's first
        engine.run_stack(project, project.stack("dubai"))
        counts.append(len(gc.get_objects()))  # objects the collector still tracks (frozen ones are not)
    print(json.dumps(counts))
    """
)


def _tracked_after_each_run(mode: str) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", _REPEATED_RUNS, mode], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_without_the_cyclic_gc_each_run_frees_what_the_previous_one_left() -> None:
    counts = _tracked_after_each_run("with-collection")
    control = _tracked_after_each_run("without-collection")
    per_run = control[2] - control[1]
    assert per_run > 10_000  # a run does leave cycles behind when nobody collects: the control grows
    assert control[3] - control[2] > per_run // 2
    # With the collection before each further run (and the survivors frozen), the tracked heap stays flat.
    assert abs(counts[3] - counts[2]) < per_run // 10
    assert abs(counts[2] - counts[1]) < per_run // 10
