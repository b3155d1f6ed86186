"""The ``infra audit`` subcommand: arguments, output, exit codes."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
FORMATS = ("terminal", "json", "markdown", "sarif")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser(
        "audit",
        help="scan the live AWS account (or any endpoint boto3 is pointed at) for residency findings",
        description="Scan every enabled region of the AWS account boto3's credentials reach (AWS_ENDPOINT_URL is "
        "honoured, e.g. a local moto_server). Exit 0 clean, 1 findings, 2 bad usage or no credentials.",
    )
    audit.add_argument("--format", choices=FORMATS, default="terminal")
    audit.add_argument("--output", type=Path, help="write the report to this file instead of stdout")
    audit.add_argument(
        "--regions",
        type=lambda text: [r.strip() for r in text.split(",") if r.strip()],
        metavar="R1,R2",
        help="scan only these regions (default: every enabled region)",
    )
    audit.add_argument("--workers", type=int, default=8, help="regions scanned at once (default 8)")
    audit.add_argument(
        "--today",
        metavar="YYYY-MM-DD",
        help="judge policy-exemption tags as of this date (default: $INFRA_POLICY_TODAY, else today)",
    )
    audit.add_argument(
        "--print-iam-policy", action="store_true", help="print the read-only IAM policy the audit needs and exit"
    )


def run(args: argparse.Namespace) -> int:
    # Imported here so that `infra check` never pays for boto3.
    from infra.audit.iam_policy import render_iam_policy

    if args.print_iam_policy:
        sys.stdout.write(render_iam_policy())
        return EXIT_OK
    if args.workers < 1:
        print("infra audit: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE

    from infra.audit.scan import AuditCredentialsError, AuditUsageError, audit_today, run_audit
    from infra.render.markdown import render_markdown
    from infra.render.report_json import render_report_json
    from infra.render.sarif import render_sarif
    from infra.render.terminal import render_report

    started = time.monotonic()
    try:
        report = run_audit(regions=args.regions, workers=args.workers, today=audit_today(args.today))
    except AuditCredentialsError as exc:
        print(f"infra audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AuditUsageError as exc:
        print(f"infra audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    renderers = {
        "terminal": render_report,
        "json": render_report_json,
        "markdown": render_markdown,
        "sarif": render_sarif,
    }
    text = renderers[args.format](report)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    findings = [f for s in report.scopes for f in s.findings if f.status == "fail"]  # exempt ones do not count
    exempt = sum(1 for s in report.scopes for f in s.findings if f.status == "exempt")
    gaps = sum(len(s.not_scanned) for s in report.scopes)
    scanned = sum(1 for s in report.scopes if s.name != "global")
    print(
        f"infra audit: {scanned} region(s), {sum(len(s.checked) for s in report.scopes)} resource(s) checked, "
        f"{len(findings)} finding(s), {exempt} exempt, {gaps} not-scanned note(s) in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    return EXIT_FINDINGS if findings else EXIT_OK
