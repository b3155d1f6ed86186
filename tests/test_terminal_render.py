"""``infra check``'s terminal report on the shipped stacks: verdict first and last, a tree that follows the parent
chain, exports that never splice a multi-line value in, width, colour and symbols only where they belong,
``--show-output``, progress on stderr (issue 18)."""

from __future__ import annotations

import fcntl
import os
import pty
import random
import re
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass
from typing import Any

import pytest

from infra.engine import SECRET
from infra.inventory import inventory
from infra.render.terminal import Style, render_check, render_full, render_verdict
from infra.render.terminal.exports import placeholder, raw_value
from infra.render.terminal.style import display_width, truncate_middle
from infra.render.terminal.tree import build_tree, rows
from infra.report import Finding, Report, Scope
from tests.stack_runs import ROOT, shipped_runs

INFRA = [sys.executable, "-m", "infra", "check"]
MULTILINE_EXPORTS = ("vpnStrongswanConf", "vpnFrrConf", "vpnXfrmInterfacesScript")
ESCAPE = "\x1b"


def _doc() -> dict[str, Any]:
    runs = shipped_runs()
    return inventory([runs[name] for name in ("frankfurt", "dubai", "onprem")])


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


def _run(*args: str, env: dict[str, str] | None = None) -> Done:
    done = subprocess.run(
        [*INFRA, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )
    return Done(done.returncode, done.stdout, done.stderr)


def _run_in_terminal(columns: int, env: dict[str, str]) -> str:
    """``infra check`` with its stdout on a pseudo-terminal ``columns`` wide (stderr piped away)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "TERM")}
    proc = subprocess.Popen(
        [*INFRA, "--no-policy"], cwd=ROOT, stdout=slave, stderr=subprocess.DEVNULL, env={**environ, **env}
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=300) == 0
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


@pytest.fixture(scope="module")
def piped() -> Done:
    return _run()


def _verdict_pattern(stack: dict[str, Any]) -> re.Pattern[str]:
    return re.compile(
        rf"^\[ok\] +{stack['stack']} +{len(stack['resources'])} resources, 0 mandatory, 0 advisory, 0 exempt, "
        r"0 config problems$"
    )


def test_the_verdict_is_the_first_and_the_last_thing_printed(piped: Done) -> None:
    assert piped.code == 0
    lines = piped.out.rstrip("\n").splitlines()
    stacks = _doc()["stacks"]
    first, last = lines[: len(stacks)], lines[-len(stacks) :]
    assert first == last
    for line, stack in zip(first, stacks, strict=True):
        assert _verdict_pattern(stack).match(line), line
    assert lines[len(stacks)] == ""  # then the body, which never repeats a verdict line
    assert all(line not in lines[len(stacks) : -len(stacks)] for line in first)


def test_verdict_counts_mandatory_advisory_exempt_and_config_problems() -> None:
    doc = _doc()
    broken = {"stack": "broken", "resources": [], "outputs": {}, "problems": ["hybrid-llm-infra:x: bad", "y: bad"]}
    doc = {"stacks": [*doc["stacks"], broken]}

    def finding(status: str, enforcement: str) -> Finding:
        return Finding("residency-tags", status, enforcement, "urn:x", "m", "dubai")  # type: ignore[arg-type]

    report = Report(
        tool="t",
        scopes=[
            Scope("frankfurt", findings=[finding("fail", "advisory")]),
            Scope("dubai", findings=[finding("fail", "mandatory"), finding("exempt", "mandatory")]),
            Scope("onprem"),
        ],
    )
    lines = render_verdict(doc, report, Style(fancy=False)).splitlines()
    assert lines[0].startswith("[warn] frankfurt") and "0 mandatory, 1 advisory, 0 exempt" in lines[0]
    assert lines[1].startswith("[FAIL] dubai") and "1 mandatory, 0 advisory, 1 exempt" in lines[1]
    assert lines[2].startswith("[ok]   onprem")
    assert lines[3].startswith("[FAIL] broken") and lines[3].endswith("2 config problems")
    fancy = render_verdict(doc, report, Style(fancy=True)).splitlines()
    assert [line[5] for line in fancy] == ["⚠", "❌", "✅", "❌"]  # after the colour escape \x1b[3Xm


def _chain(stack: dict[str, Any], urn: str) -> int:
    by_urn = {r["urn"]: r for r in stack["resources"]}
    depth = 0
    while urn in by_urn:
        urn, depth = by_urn[urn]["parent"] or "", depth + 1
    return depth


@pytest.mark.parametrize("name", ["frankfurt", "dubai", "onprem"])
def test_verbose_tree_depth_is_the_parent_chain_and_lists_every_resource_once(name: str) -> None:
    stack = next(s for s in _doc()["stacks"] if s["stack"] == name)
    tree = rows(build_tree(stack), verbose=True)
    assert sorted(r.urn for r in tree[1:]) == sorted(r["urn"] for r in stack["resources"])
    assert all(r.collapsed is None for r in tree)
    assert max(r.depth for r in tree) >= 2  # components do nest here
    for row in tree[1:]:
        assert row.depth == _chain(stack, row.urn) == len(row.last), row.urn
    lines = render_check({"stacks": [stack]}, None, Style(fancy=False, width=200), verbose=True).splitlines()
    body = lines[lines.index(f"{name}  ({len(stack['resources'])} resources)") + 1 :]
    for row, line in zip(tree, body, strict=False):
        indent = len(line) - len(line.lstrip(" |`-"))  # "  " + 3 columns per level
        assert indent == 2 + 3 * row.depth, line
        assert row.name in line


@pytest.mark.parametrize("name", ["frankfurt", "dubai", "onprem"])
def test_default_tree_collapses_components_to_their_resource_count(name: str) -> None:
    stack = next(s for s in _doc()["stacks"] if s["stack"] == name)
    tree = rows(build_tree(stack), verbose=False)
    assert {r.depth for r in tree} == {0, 1}
    collapsed = [r for r in tree if r.collapsed is not None]
    assert collapsed and all((r.collapsed or 0) > 0 for r in collapsed)
    assert len(tree) - 1 + sum(r.collapsed or 0 for r in tree) == len(stack["resources"])
    text = render_check({"stacks": [stack]}, None, Style(fancy=False))
    for row in collapsed:
        kind = row.type.rsplit(":", 1)[-1]
        assert re.search(rf"[|`]- {re.escape(row.name)} +{kind}  \({row.collapsed}\)$", text, re.M), row.name


def test_the_same_output_whatever_order_the_resources_were_registered_in() -> None:
    doc = _doc()
    shuffled = {
        "stacks": [
            {**s, "resources": random.Random(7).sample(s["resources"], len(s["resources"]))} for s in doc["stacks"]
        ]
    }
    for verbose in (False, True):
        assert render_full(doc, None, Style(fancy=True), verbose) == render_full(
            shuffled, None, Style(fancy=True), verbose
        )


@pytest.mark.parametrize("width", [40, 63, 100, 157])
@pytest.mark.parametrize("fancy", [True, False])
def test_no_line_is_wider_than_the_width(width: int, fancy: bool) -> None:
    report = Report(
        tool="infra check (data-residency pack)",
        scopes=[
            Scope(
                "dubai",
                findings=[
                    Finding(
                        "residency-tags",
                        "fail",
                        "mandatory",
                        "urn:pulumi:dubai::hybrid-llm-infra::"
                        "hybrid-llm-infra:compute:AwsGpuInferenceCluster$aws:eks/cluster:Cluster::dubai-gpu-eks",
                        "a long message " * 20,
                        "dubai",
                    )
                ],
            )
        ],
    )
    for verbose in (False, True):
        text = render_full(_doc(), report, Style(fancy=fancy, width=width), verbose)
        wide = [line for line in text.splitlines() if display_width(line) > width]
        assert wide == []


def test_a_pipe_gets_100_columns_plain_ascii_and_no_escape_codes(piped: Done) -> None:
    assert ESCAPE not in piped.out
    assert piped.out.isascii()
    assert max(display_width(line) for line in piped.out.splitlines()) <= 100


def test_multi_line_exports_are_placeholders_never_spliced_in(piped: Done) -> None:
    onprem = shipped_runs()["onprem"].outputs
    for name in MULTILINE_EXPORTS:
        value = onprem[name]
        assert isinstance(value, str) and value.count("\n") > 3
        assert f"<{len(value)} chars, {len(value.splitlines())} lines: --show-output {name}>" in piped.out
        distinctive = [line for line in value.splitlines() if len(line.strip()) > 12]
        assert distinctive and not any(line in piped.out for line in distinctive), name
    assert placeholder("x", {"a": [1, 2]}) == f"<{len(raw_value({'a': [1, 2]}))} chars, 6 lines: --show-output x>"


def test_secrets_print_as_secret(piped: Done) -> None:
    runs = shipped_runs()
    secrets = [(run, name) for run in runs.values() for name in run.secret_outputs]
    assert secrets
    for run, name in secrets:
        assert re.search(rf"^    {name} +\[secret\]$", piped.out, re.M)
        value = run.outputs[name]
        for line in str(value).splitlines():
            if len(line.strip()) > 12:
                assert line not in piped.out


def test_on_a_terminal_colour_symbols_and_its_width() -> None:
    text = _run_in_terminal(90, {"TERM": "xterm-256color"})
    assert ESCAPE + "[" in text and "✅" in text and "├─ " in text
    assert max(display_width(line) for line in text.splitlines()) <= 90


@pytest.mark.parametrize(
    "env", [{"NO_COLOR": "1", "TERM": "xterm-256color"}, {"TERM": "dumb"}], ids=["NO_COLOR", "dumb"]
)
def test_no_color_and_a_dumb_terminal_get_plain_ascii(env: dict[str, str]) -> None:
    text = _run_in_terminal(90, env)
    assert ESCAPE not in text and text.isascii()
    assert "[ok]   frankfurt" in text
    assert max(display_width(line) for line in text.splitlines()) <= 90


def test_show_output_prints_the_raw_value_alone() -> None:
    value = shipped_runs()["onprem"].outputs["vpnStrongswanConf"]
    done = _run("onprem", "--show-output", "vpnStrongswanConf")
    assert done.code == 0
    assert done.out == (value if value.endswith("\n") else value + "\n")


def test_show_output_never_prints_a_secret_and_refuses_an_ambiguous_or_unknown_name() -> None:
    secret = shipped_runs()["frankfurt"].outputs["kubeconfig"]
    done = _run("frankfurt", "--show-output", "kubeconfig")
    assert done.code == 0 and done.out == SECRET + "\n" and str(secret) not in done.out + done.err
    assert "is a secret" in done.err
    both = _run("frankfurt", "dubai", "--show-output", "vpcId")
    assert (
        both.code == 2 and both.out == "" and re.search(r"exported by (frankfurt, dubai|dubai, frankfurt);", both.err)
    )
    none = _run("dubai", "--show-output", "noSuchExport")
    assert none.code == 2 and none.out == "" and "exports noSuchExport" in none.err


def test_progress_goes_to_stderr_one_line_per_stack(piped: Done) -> None:
    for stack in _doc()["stacks"]:
        assert re.search(
            rf"^checking {stack['stack']}\.\.\. {len(stack['resources'])} resources, \d+\.\d s$", piped.err, re.M
        )
    assert "checking " not in piped.out


def test_truncation_keeps_both_ends() -> None:
    name = "frankfurt-gpu-node-role-amazonec2containerregistrypullonly"
    short = truncate_middle(name, 21, "...")
    assert short == "frankfurt...pullonly" or (
        len(short) == 21 and short.startswith("frankfurt") and short.endswith("pullonly")
    )
    assert truncate_middle(name, 60) == name
    assert display_width("⚠️") == 2 and display_width("\x1b[31m✅\x1b[0m") == 2


def test_a_narrow_terminal_keeps_every_count_and_never_cuts_a_placeholder() -> None:
    doc = _doc()
    report = Report(tool="t", scopes=[Scope(s["stack"]) for s in doc["stacks"]])
    for line, stack in zip(
        render_verdict(doc, report, Style(fancy=False, width=60)).splitlines(), doc["stacks"], strict=True
    ):
        assert line.endswith(f"{len(stack['resources'])} res, 0 mand, 0 adv, 0 exempt, 0 config"), line
    text = render_check(doc, None, Style(fancy=True, width=60))
    assert re.search(r"^    vpnFrrConf +\x1b\[2m<\d+ chars, \d+ lines>\x1b\[0m$", text, re.M)
    assert "…" not in "".join(re.findall(r"<\d+ chars[^>]*>", text))
