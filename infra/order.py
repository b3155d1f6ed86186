"""Which stacks run, and in which order: a stack after every stack it references."""

from __future__ import annotations

from collections.abc import Sequence
from graphlib import CycleError, TopologicalSorter

from infra.project import Project, StackFile
from stackconfig import ConfigError, OnPremStackConfig, parse_stack_config


class OrderError(Exception):
    pass


def stack_dependencies(stack: StackFile) -> list[str]:
    try:
        config = parse_stack_config(stack.config)
    except ConfigError:
        return []  # the run itself reports the problems
    return list(config.peer_stacks) if isinstance(config, OnPremStackConfig) else []


def run_order(project: Project, requested: Sequence[str]) -> tuple[list[StackFile], dict[str, list[str]], list[str]]:
    """The stack files to run (requested plus what they reference), their dependencies and an order."""
    files: dict[str, StackFile] = {}
    pending = list(requested)
    graph: dict[str, list[str]] = {}
    while pending:
        name = pending.pop()
        if name in files:
            continue
        files[name] = project.stack(name)
        graph[name] = stack_dependencies(files[name])
        pending.extend(graph[name])
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise OrderError(f"stacks reference each other in a cycle: {' -> '.join(exc.args[1])}") from None
    return list(files.values()), graph, order
