"""``infra map``: run the stacks under the mock engine exactly as ``infra check`` does (or read an inventory it
wrote), build the data-flow map and render it. Exit 0 when every flow stays in its jurisdiction, 1 when one crosses,
2 on bad usage, a stack that does not run, or a failed render."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from infra.engine import run_in_order
from infra.inventory import inventory
from infra.map.build import build_map
from infra.map.document import map_document
from infra.map.dot import GraphvizError, render_dot_detail, render_dot_overview, render_image
from infra.map.mermaid import render_mermaid
from infra.map.record import render_record
from infra.order import OrderError, run_order
from infra.project import ProjectError, load_project
from infra.render.json_format import render_json

EXIT_OK, EXIT_CROSSING, EXIT_USAGE = 0, 1, 2
FORMATS = ("svg", "png", "dot", "mermaid", "markdown", "json")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("map", help="draw where data lives and how it moves (data-flow map, record of processing)")
    parser.add_argument("stacks", nargs="*", metavar="STACK", help="stacks to map (default: every Pulumi.*.yaml)")
    parser.add_argument("--format", choices=FORMATS, default="markdown")
    parser.add_argument("--view", choices=("overview", "detail"), default="overview", help="svg/png/dot: which picture")
    parser.add_argument("--output", type=Path, help="write to this file instead of stdout")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="the Pulumi project (default: .)")
    parser.add_argument(
        "--inventory", type=Path, help="read this inventory (infra check --format json) instead of running"
    )


def run(args: argparse.Namespace) -> int:
    try:
        doc = _inventory(args)
    except (ProjectError, OrderError, OSError, ValueError) as exc:
        print(f"infra: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if doc is None:
        return EXIT_USAGE
    flow_map = build_map(doc)
    try:
        output = _render(flow_map, args.format, args.view)
    except GraphvizError as exc:
        print(f"infra: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.output:
        args.output.write_bytes(output)
    elif isinstance(output, bytes):
        sys.stdout.buffer.write(output)
    for flow in flow_map.crossing:
        print(
            f"infra: flow {flow.id} crosses {flow.source_jurisdiction} -> {flow.target_jurisdiction}: {flow.label}",
            file=sys.stderr,
        )
    return EXIT_CROSSING if flow_map.crossing else EXIT_OK


def _inventory(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.inventory:
        doc = json.loads(args.inventory.read_text(encoding="utf-8"))
        if args.stacks:
            doc["stacks"] = [s for s in doc.get("stacks", []) if s.get("stack") in args.stacks]
        return dict(doc)
    project = load_project(args.project_dir.resolve())
    requested = args.stacks or project.stack_names()
    files, graph, order = run_order(project, requested)
    print(f"infra: mapping {', '.join(order)} under Pulumi's mock engine", file=sys.stderr)
    runs = run_in_order(project, files, graph)
    failed = False
    for run in runs.values():
        for problem in run.problems:
            print(f"{run.stack}: {problem}", file=sys.stderr)
        if run.crash:
            print(f"{run.stack}: program crashed: {run.crash}", file=sys.stderr)
        failed = failed or not run.ok
    return None if failed else inventory([runs[name] for name in order])


def _render(flow_map: Any, fmt: str, view: str) -> bytes:
    if fmt == "json":
        return render_json(map_document(flow_map)).encode()
    if fmt == "markdown":
        return render_record(flow_map).encode()
    if fmt == "mermaid":
        return render_mermaid(flow_map).encode()
    dot_text = render_dot_overview(flow_map) if view == "overview" else render_dot_detail(flow_map)
    return dot_text.encode() if fmt == "dot" else render_image(dot_text, fmt)
