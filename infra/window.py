"""``infra window STACK [--at TIME]``: may this stack be deployed now? Exit 0 inside a change window, 1 outside.

Reads the stack's validated config (``changeWindows``, in the site's time zone). A stack without change windows may
be deployed at any time. The deploy workflow calls this before ``pulumi up``; its emergency override is logged
there, not here (this command only answers).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.project import ProjectError, load_project
from stackconfig.change_windows import next_opening, open_window
from stackconfig.errors import ConfigError
from stackconfig.loader import parse_stack_config

EXIT_ALLOWED = 0
EXIT_CLOSED = 1
EXIT_USAGE = 2


def add_parser(sub: Any) -> None:
    window = sub.add_parser("window", help="is a deploy of STACK inside its change window (exit 0) or not (exit 1)")
    window.add_argument("stack", metavar="STACK")
    window.add_argument("--at", help="ISO 8601 instant with its UTC offset (default: now), e.g. 2027-03-29T09:30+02:00")
    window.add_argument("--project-dir", type=Path, default=Path.cwd(), help="the Pulumi project (default: .)")


def run(args: argparse.Namespace) -> int:
    try:
        instant = datetime.now(UTC) if args.at is None else datetime.fromisoformat(args.at)
    except ValueError:
        print(f"infra window: --at {args.at!r} is not an ISO 8601 instant", file=sys.stderr)
        return EXIT_USAGE
    if instant.tzinfo is None:
        print(f"infra window: --at {args.at!r} needs a UTC offset (e.g. +02:00 or Z)", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = parse_stack_config(load_project(args.project_dir.resolve()).stack(args.stack).config)
    except ProjectError as exc:
        print(f"infra window: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"infra window: {args.stack}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    windows = config.change_windows
    if windows is None:
        print(f"{args.stack}: no change windows declared: deploys are allowed at any time")
        return EXIT_ALLOWED
    zone = windows.time_zone
    current = open_window(windows, instant)
    if current is not None:
        print(f"{args.stack}: inside a change window until {current[1]:%Y-%m-%d %H:%M} {zone} ({_utc(current[1])})")
        return EXIT_ALLOWED
    opens = next_opening(windows, instant)
    print(f"{args.stack}: outside every change window; the next opens {opens:%a %Y-%m-%d %H:%M} {zone} ({_utc(opens)})")
    return EXIT_CLOSED


def _utc(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
