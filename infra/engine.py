"""Run a stack's real ``__main__.py`` under Pulumi's mock engine and capture its inventory.

Each stack runs in a fresh ``contextvars`` context with its own event loop, so Pulumi's
runtime state (settings, root resource, config) never leaks from one stack to the next.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import gc
import importlib
import multiprocessing
import os
import runpy
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.mocks import Capture, CapturedResource, OfflineMocks, RecordingMonitor, StackOutputs
from infra.project import Project, StackFile

ORGANIZATION = "organization"
SECRET = "[secret]"


@dataclass
class StackRun:
    """One stack's mock run: what it registered and exported, or why it stopped."""

    stack: str
    resources: list[CapturedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()
    problems: list[str] = field(default_factory=list)
    """Bad input: one line per problem (config errors, RunErrors)."""
    crash: str | None = None
    """An unexpected exception: a bug in the program, not in its input."""
    seconds: float = 0.0
    """How long the program ran (for the progress line)."""

    @property
    def ok(self) -> bool:
        return not self.problems and self.crash is None

    def as_reference(self) -> StackOutputs:
        return StackOutputs(values=self.outputs, secret_names=self.secret_outputs)


_ran_in_this_process = False


def run_stack(project: Project, stack: StackFile, references: Mapping[str, StackOutputs] | None = None) -> StackRun:
    """Run one stack in an isolated Pulumi runtime."""
    global _ran_in_this_process
    if _ran_in_this_process and not gc.isenabled():
        # The `infra` command runs without the cyclic GC (infra/launch.py), so a run's cycles (event loop,
        # futures, Outputs) would stay until exit: free them before the next run in this process, then
        # freeze what survives (modules the run imported) so later collections skip it.
        gc.collect()
        gc.freeze()
    _ran_in_this_process = True
    started = time.perf_counter()
    context = contextvars.Context()
    run: StackRun = context.run(_run_isolated, project, stack, dict(references or {}))
    run.seconds = time.perf_counter() - started
    return run


def _run_isolated(project: Project, stack: StackFile, references: dict[str, StackOutputs]) -> StackRun:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    run = StackRun(stack=stack.name)
    capture = Capture()
    mocks = OfflineMocks(capture, default_region=stack.config.get("aws:region"), references=references)
    try:
        runtime_settings.reset_options(project=project.name, stack=stack.name, organization=ORGANIZATION)
        runtime_config.set_all_config(dict(stack.config), sorted(stack.secret_keys))
        pulumi_mocks.set_mocks(
            mocks,
            project=project.name,
            stack=stack.name,
            preview=False,
            organization=ORGANIZATION,
            monitor=RecordingMonitor(mocks, capture),
        )
        with _program_environment(project.root):
            _sync_await(run_pulumi_func(lambda: runpy.run_path(str(project.main), run_name="__main__")))
            run.outputs, run.secret_outputs = _resolve_exports()
    except pulumi.RunError as exc:
        # A ConfigError carries its problems one by one; any other RunError is reported line by line.
        problems = getattr(exc, "problems", None)
        run.problems = (
            [str(p) for p in problems]
            if problems is not None
            else [line.strip() for line in str(exc).splitlines() if line.strip()]
        )
    except Exception as exc:
        run.crash = f"{type(exc).__name__}: {exc}"
        if os.environ.get("INFRA_DEBUG"):
            import traceback

            traceback.print_exc()
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    run.resources = list(capture.resources.values())
    return run


@contextmanager
def _program_environment(root: Path) -> Iterator[None]:
    # The CLI runs the program from the project directory with it first on sys.path.
    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(root)
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path


def _resolve_exports() -> tuple[dict[str, Any], frozenset[str]]:
    root = runtime_settings.get_root_resource()
    exports: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in exports.items():
        output = pulumi.Output.from_input(value)
        values[key] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            secrets.add(key)
    return values, frozenset(secrets)


def redact(value: Any) -> Any:
    """Replace every secret-marked value with ``[secret]`` (for anything that is printed or stored)."""
    if isinstance(value, dict):
        if value.get(_special_sig_key) == _special_secret_sig:
            return SECRET
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double; show 365, not 365.0
    return value


def run_in_order(
    project: Project,
    stacks: Sequence[StackFile],
    dependencies: Mapping[str, Sequence[str]],
    *,
    parallel: bool = True,
    on_workers_ready: Callable[[], object] | None = None,
    on_stack_done: Callable[[StackRun], object] | None = None,
) -> dict[str, StackRun]:
    """Run stacks so that each runs after the stacks it references, handing it their exports.

    With ``parallel`` (and fork available), independent stacks run side by side in forked
    workers after the program's imports are warmed once in this process: importing the
    providers' SDKs costs more than running a stack. ``on_workers_ready`` runs once no more
    processes will be forked, so a caller can start threads (gRPC) without forking under them.
    ``on_stack_done`` gets each run as soon as it ends, so a caller can work on it while others run.
    """
    by_name = {s.name: s for s in stacks}
    runs: dict[str, StackRun] = {}
    references: dict[str, StackOutputs] = {}
    if not parallel or len(by_name) == 1 or "fork" not in multiprocessing.get_all_start_methods():
        if on_workers_ready is not None:
            on_workers_ready()
        for name in TopologicalSorter({n: list(dependencies.get(n, [])) for n in by_name}).static_order():
            runs[name] = run_stack(project, by_name[name], references)
            if runs[name].ok:
                references[name] = runs[name].as_reference()
            if on_stack_done is not None:
                on_stack_done(runs[name])
        return runs

    warm_program_imports(project)
    if not gc.isenabled():  # the `infra` command (see run_stack): no later collection need walk the imports
        gc.freeze()
    sorter = TopologicalSorter({n: list(dependencies.get(n, [])) for n in by_name})
    sorter.prepare()
    workers = max(1, min(len(by_name), os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        running: dict[Future[StackRun], str] = {}
        while sorter.is_active():
            for name in sorter.get_ready():
                running[pool.submit(run_stack, project, by_name[name], dict(references))] = name
            # With fork, the first submit launched every worker: from here on nothing forks.
            if on_workers_ready is not None:
                on_workers_ready()
                on_workers_ready = None
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                runs[name] = future.result()
                if runs[name].ok:
                    references[name] = runs[name].as_reference()
                sorter.done(name)
                if on_stack_done is not None:
                    on_stack_done(runs[name])
    return runs


def warm_program_imports(project: Project) -> None:
    """Import what the program imports (its modules define, they register nothing on import)."""
    tree = ast.parse(project.main.read_text(encoding="utf-8"))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    with _program_environment(project.root):
        for module in sorted(modules):
            with suppress(ImportError):
                importlib.import_module(module)
