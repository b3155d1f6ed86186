"""``infra``: check the stacks offline (and, in later commands, diff and audit them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infra.audit import command as audit_command
from infra.diff import add_diff_parser, run_diff
from infra.engine import StackRun, run_in_order
from infra.inventory import inventory
from infra.latency import latency_section, named_stack_configs
from infra.map import command as map_command
from infra.order import OrderError, run_order
from infra.policy_check import PackSession, PolicyPackError, StackChecks, StackPolicyResult, attach, report_of
from infra.progress import Progress
from infra.project import ProjectError, load_project
from infra.render.json_format import render_json
from infra.render.latency_markdown import render_latency_markdown
from infra.render.latency_terminal import render_latency
from infra.render.markdown import render_markdown
from infra.render.sarif import render_sarif
from infra.render.terminal import Style, render_check, render_verdict, show_output
from infra.window import add_parser as add_window_parser
from infra.window import run as run_window
from stackconfig.front_door_pairing import front_door_pairing_problems

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run each stack's __main__.py under Pulumi's mock engine")
    check.add_argument("stacks", nargs="*", metavar="STACK", help="stacks to check (default: every Pulumi.*.yaml)")
    check.add_argument("--format", choices=("terminal", "json", "markdown", "sarif"), default="terminal")
    check.add_argument("--no-policy", action="store_true", help="skip the data-residency policy pack")
    check.add_argument("--output", type=Path, help="write the report to this file instead of stdout")
    check.add_argument("--project-dir", type=Path, default=Path.cwd(), help="the Pulumi project (default: .)")
    check.add_argument("--verbose", action="store_true", help="terminal: expand every component of the tree")
    check.add_argument("--show-output", metavar="NAME", help="print one export's value raw (no report, no pack)")
    audit_command.add_parser(sub)
    add_diff_parser(sub)
    add_window_parser(sub)
    map_command.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "window":
        return run_window(args)
    if args.command == "diff":
        return run_diff(args)
    if args.command == "audit":
        return audit_command.run(args)
    if args.command == "map":
        return map_command.run(args)
    return _check(args)


def _check(args: argparse.Namespace) -> int:
    try:
        project = load_project(args.project_dir.resolve())
        requested = args.stacks or project.stack_names()
        files, graph, order = run_order(project, requested)
    except (ProjectError, OrderError) as exc:
        print(f"infra: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for extra in sorted(set(order) - set(requested)):
        print(f"infra: also running {extra}: a requested stack references it", file=sys.stderr)
    progress = Progress()
    progress.begin(order)
    # One pack process for the whole check, launched now so it imports while the program's imports are
    # warmed here; its gRPC side (threads) starts only once the stack workers are forked, since forking
    # under live gRPC threads is unsafe. Each stack is analysed as soon as its run is in.
    session = None if args.no_policy or args.show_output else PackSession()
    checks = None if session is None else StackChecks(session, order, {f.name: f.config for f in files})
    try:
        if session is not None:
            session.spawn()
        runs = run_in_order(
            project,
            files,
            graph,
            on_workers_ready=checks.start if checks else None,  # its thread boots the pack, then analyses
            on_stack_done=lambda run: _stack_done(run, progress, checks),
        )
        parsed = named_stack_configs({f.name: f.config for f in files})
        for stack, problems in front_door_pairing_problems(parsed.items()).items():
            runs[stack].problems += [str(p) for p in problems]
        doc = inventory([runs[name] for name in order])
        latency = latency_section([parsed[f.name] for f in files if f.name in parsed])
        if latency is not None:
            doc["latency"] = latency
        results = {}
        policies: list[str] = []
        if session is not None and checks is not None:
            progress.policies_wait()
            results = checks.results()
            progress.policies_done(len(results))
            policies = [p.name for p in session.ready().info().policies]
            attach(doc, results)
            session.begin_close()  # the pack shuts down while the report is written
        return _report(args, runs, doc, results, policies)
    except PolicyPackError as exc:
        print(f"infra: policy pack: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if checks is not None:
            checks.abandon()
        if session is not None:
            session.close()


def _stack_done(run: StackRun, progress: Progress, checks: StackChecks | None) -> None:
    progress.stack_done(run)
    if checks is not None:
        checks.submit(run)


def _report(
    args: argparse.Namespace,
    runs: dict[str, StackRun],
    doc: dict[str, Any],
    results: dict[str, StackPolicyResult],
    policies: list[str],
) -> int:
    if args.show_output:
        shown = show_output(doc, args.show_output, args.stacks or list(runs), sys.stdout, sys.stderr)
        return EXIT_USAGE if shown or not all(run.ok for run in runs.values()) else EXIT_OK
    status = EXIT_OK
    for run in runs.values():
        for problem in run.problems:
            print(f"{run.stack}: {problem}", file=sys.stderr)
        if run.crash:
            print(f"{run.stack}: program crashed: {run.crash}", file=sys.stderr)
        if not run.ok:
            status = EXIT_USAGE
    if any(r.mandatory for r in results.values()) and status == EXIT_OK:
        status = EXIT_VIOLATIONS
    report = report_of(results, policies)
    if args.format == "json":
        text = render_json(doc)
    elif args.format == "markdown":
        text = render_markdown(report) + render_latency_markdown(doc.get("latency"))
    elif args.format == "sarif":
        text = render_sarif(report)
    else:
        style = Style.detect(None if args.output else sys.stdout)
        judged = None if args.no_policy else report
        text = render_check(doc, judged, style, verbose=args.verbose)
        if doc.get("latency"):
            text += "\n" + render_latency(doc["latency"], style)
        text += "\n" + render_verdict(doc, judged, style)  # last, after every section: the end of a scroll answers too
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return status
