"""Shared runs of the shipped stacks (one mock run per test process, so per xdist worker).

The runs are deterministic except for the order of their resources, which follows the async engine's scheduling
and differs between processes; the shared runs list them by URN, because every xdist worker must collect the
same tests in the same order and some tests are parametrized over these resources.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from functools import cache
from pathlib import Path

from infra.engine import StackRun, run_in_order
from infra.mocks import CapturedResource
from infra.order import run_order
from infra.project import load_project

ROOT = Path(__file__).resolve().parent.parent


@cache
def shipped_runs() -> dict[str, StackRun]:
    project = load_project(ROOT)
    files, graph, _ = run_order(project, project.stack_names())
    runs = run_in_order(project, files, graph)
    return {name: replace(run, resources=sorted(run.resources, key=lambda r: r.urn)) for name, run in runs.items()}


def resource_class(type_token: str) -> type | None:
    """The SDK class for a type token, to ask whether the resource takes tags."""
    import importlib

    package, module_path, name = type_token.split(":")
    module_name = module_path.split("/")[0]
    try:
        module = importlib.import_module(f"pulumi_{package}.{module_name}")
    except ImportError:
        return None
    return getattr(module, name, None)


def is_taggable(resource: CapturedResource) -> bool:
    cls = resource_class(resource.type)
    if cls is None:
        return False
    return "tags" in inspect.signature(cls._internal_init).parameters  # type: ignore[attr-defined]
