"""``infra diff BASE [HEAD]``: what a change does to every stack, offline.

Each revision is checked out in a temporary detached worktree (HEAD defaults to the working tree
itself) and checked by ``python -m infra check --format json`` in a subprocess of the current venv's
interpreter, run from that revision's project directory with it first on ``PYTHONPATH``. So every
module — the program, its config models, components, policies, and the ``infra`` tool itself — is the
revision's own: nothing imported for one revision is reused for the other (they are separate
processes), and nothing of the user's checkout leaks into the base run. Only the third-party
packages of the venv are shared.

Both runs get the same random ``INFRA_SECRET_FINGERPRINT_KEY`` (fresh per invocation, never printed),
so a secret whose value changed shows as changed while both sides still print ``[secret]``.

Exit codes (the highest-precedence one that applies):
  2  bad usage: not a git repository, unknown revision, bad option; or a revision whose
     ``infra check`` produced no inventory, or a stack that does not check at HEAD
  1  a new mandatory policy violation at HEAD (not exempt)
  3  changes (resources, exports, policy results, or a stack added, removed or fixed)
  0  no change
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.fingerprint import KEY_ENV, pointer
from infra.gitrev import GitError, repo_root, resolve, worktree

EXIT_NO_CHANGE = 0
EXIT_NEW_MANDATORY = 1
EXIT_USAGE = 2
EXIT_CHANGES = 3

SECRET = "[secret]"
WORKING_TREE = "working tree"
_MISSING = object()


class DiffError(Exception):
    """A revision could not be checked, or the arguments name nothing that exists."""


# --------------------------------------------------------------------------------------------- snapshots


@dataclass
class Snapshot:
    """One revision's inventory, as its own ``infra check --format json`` printed it."""

    label: str
    commit: str | None
    doc: dict[str, Any] = field(default_factory=lambda: {"stacks": []})
    exit_code: int = 0
    seconds: float = 0.0


def check_revision(
    project_dir: Path, stacks: list[str], *, key: str, label: str, commit: str | None, python: str = sys.executable
) -> Snapshot:
    """Run ``infra check --format json`` on the project at ``project_dir`` in a fresh process."""
    snapshot = Snapshot(label=label, commit=commit)
    if not (project_dir / "Pulumi.yaml").is_file():
        return snapshot  # no project at this revision: every stack of the other side is added or removed
    available = {p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml")}
    wanted = [s for s in stacks if s in available] if stacks else []
    if stacks and not wanted:
        return snapshot
    env = dict(os.environ)
    env.pop("PYTHONSAFEPATH", None)
    env["PYTHONPATH"] = os.pathsep.join([str(project_dir), *filter(None, [os.environ.get("PYTHONPATH")])])
    env[KEY_ENV] = key
    cmd = [python, "-m", "infra", "check", "--format", "json", "--project-dir", str(project_dir), *wanted]
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True, check=False)
    snapshot.seconds = time.monotonic() - start
    snapshot.exit_code = done.returncode
    where = f"{label}" + (f" ({commit[:12]})" if commit else "")
    stderr_tail = " ".join(done.stderr.strip().splitlines()[-3:])
    if done.returncode not in (0, 1, 2):
        raise DiffError(f"infra check at {where} failed (exit {done.returncode}): {stderr_tail}")
    try:
        doc = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise DiffError(
            f"infra check at {where} printed no inventory (exit {done.returncode}): {stderr_tail}"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("stacks"), list):
        raise DiffError(f"infra check at {where} printed something that is not an inventory")
    snapshot.doc = doc
    return snapshot


@contextmanager
def revision_dir(root: Path, rel: Path, commit: str | None, venv: Path | None) -> Iterator[Path]:
    """The project directory at ``commit`` (a temporary worktree), or the working tree for None."""
    if commit is None:
        yield root / rel
        return
    with worktree(root, commit) as tree:
        project = tree / rel
        link = project / ".venv"
        if venv is not None and project.is_dir() and not link.exists():
            # Pulumi.yaml / PulumiPolicy.yaml may name ./.venv; point it at the venv in use.
            link.symlink_to(venv, target_is_directory=True)
        try:
            yield project
        finally:
            if link.is_symlink():
                link.unlink()


# --------------------------------------------------------------------------------------------- the diff


def diff_values(old: Any, new: Any, parts: list[str | int], out: list[dict[str, Any]]) -> None:
    """Leaf-level differences between two JSON values, as ``{"path", "op", "old", "new"}``."""
    if old is _MISSING:
        out.append({"path": pointer(parts), "op": "add", "new": new})
    elif new is _MISSING:
        out.append({"path": pointer(parts), "op": "remove", "old": old})
    elif isinstance(old, dict) and isinstance(new, dict):
        for k in [*old, *(k for k in new if k not in old)]:
            diff_values(old.get(k, _MISSING), new.get(k, _MISSING), [*parts, k], out)
    elif isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            diff_values(old[i] if i < len(old) else _MISSING, new[i] if i < len(new) else _MISSING, [*parts, i], out)
    elif old != new or type(old) is not type(new):
        old_doc, new_doc = _json_document(old), _json_document(new)
        if old_doc is not None and new_doc is not None:
            # A JSON document in a string (an IAM or bucket policy): diff its structure, path ``…/policy#/Statement/0``.
            inner: list[dict[str, Any]] = []
            diff_values(old_doc, new_doc, [], inner)
            for change in inner:
                out.append({**change, "path": pointer(parts) + "#" + change["path"]})
            return
        out.append({"path": pointer(parts), "op": "replace", "old": old, "new": new})


def _json_document(value: Any) -> Any:
    if not isinstance(value, str) or not value.lstrip().startswith(("{", "[")):
        return None
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    return doc if isinstance(doc, dict | list) else None


def _secret_changes(old: dict[str, Any], new: dict[str, Any], base: list[str | int]) -> list[dict[str, Any]]:
    """Secrets printed ``[secret]`` on both sides whose keyed fingerprints differ."""
    old_fp = old.get("secretFingerprints") or {}
    new_fp = new.get("secretFingerprints") or {}
    changes = []
    for path in sorted(set(old_fp) & set(new_fp)):
        if old_fp[path] != new_fp[path]:
            changes.append(
                {"path": pointer(base) + path, "op": "replace", "old": SECRET, "new": SECRET, "secret": True}
            )
    return changes


def resource_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Property-level differences of one resource (paths are JSON pointers into its inventory entry)."""
    out: list[dict[str, Any]] = []
    for key in ("provider", "parent"):
        if old.get(key) != new.get(key):
            out.append({"path": f"/{key}", "op": "replace", "old": old.get(key), "new": new.get(key)})
    diff_values(old.get("inputs") or {}, new.get("inputs") or {}, ["inputs"], out)
    for change in out:
        if change.get("old") == SECRET and change.get("new") == SECRET:
            change["secret"] = True
    out.extend(_secret_changes(old, new, ["inputs"]))
    return out


def _brief(resource: dict[str, Any]) -> dict[str, Any]:
    return {"urn": resource["urn"], "type": resource.get("type"), "name": resource.get("name")}


def _violation_key(v: dict[str, Any]) -> tuple[str, str, str]:
    return (str(v.get("pack") or ""), str(v.get("policy") or ""), str(v.get("urn") or ""))


def _blocking(v: dict[str, Any]) -> bool:
    return v.get("enforcement") == "mandatory" and not v.get("exempt")


def _violation(v: dict[str, Any]) -> dict[str, Any]:
    keep = ("policy", "pack", "enforcement", "severity", "urn", "message", "exempt")
    return {k: v.get(k) for k in keep if k in v}


def violation_delta(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, Any]:
    """Policy results that appeared, disappeared, or changed (same pack, policy and resource).

    Within one (pack, policy, URN) violations with the same message pair up first; the rest pair
    in order as "changed" (a message or enforcement that moved), and what is left over appeared
    or disappeared. A violation is *new and mandatory* if it appeared mandatory and not exempt, or
    became so (from advisory, or from exempt — an exemption that expired).
    """
    groups: dict[tuple[str, str, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for v in old:
        groups.setdefault(_violation_key(v), ([], []))[0].append(v)
    for v in new:
        groups.setdefault(_violation_key(v), ([], []))[1].append(v)
    appeared: list[dict[str, Any]] = []
    disappeared: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for key in sorted(groups):
        before, after = (list(x) for x in groups[key])
        for v in list(before):
            twin = next((w for w in after if _violation(w) == _violation(v)), None)
            if twin is not None:
                before.remove(v)
                after.remove(twin)
        while before and after:
            changed.append({"before": _violation(before.pop(0)), "after": _violation(after.pop(0))})
        appeared.extend(_violation(v) for v in after)
        disappeared.extend(_violation(v) for v in before)
    new_mandatory = [v for v in appeared if _blocking(v)]
    new_mandatory += [c["after"] for c in changed if _blocking(c["after"]) and not _blocking(c["before"])]
    return {"appeared": appeared, "disappeared": disappeared, "changed": changed, "newMandatory": new_mandatory}


def diff_stack(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """One stack's changes between two inventories (None: the stack does not exist on that side)."""
    result: dict[str, Any] = {
        "stack": name,
        "status": "unchanged",
        "resources": {"added": [], "removed": [], "changed": []},
        "outputs": [],
        "violations": {"appeared": [], "disappeared": [], "changed": [], "newMandatory": []},
        "problems": {"base": list((old or {}).get("problems") or []), "head": list((new or {}).get("problems") or [])},
        # Whether that revision's inventory carried policy results at all (no pack yet: no "violations" key).
        "policiesChecked": {"base": "violations" in (old or {}), "head": "violations" in (new or {})},
    }
    if result["problems"]["head"]:
        result["status"] = "fails-at-head"
        return result
    if result["problems"]["base"]:
        result["status"] = "fixed"  # nothing at base to compare with: no resource-level diff
        result["violations"] = violation_delta([], list((new or {}).get("violations") or []))
        return result
    old_res = {r["urn"]: r for r in (old or {}).get("resources", [])}
    new_res = {r["urn"]: r for r in (new or {}).get("resources", [])}
    res = result["resources"]
    res["added"] = [_brief(new_res[u]) for u in sorted(set(new_res) - set(old_res))]
    res["removed"] = [_brief(old_res[u]) for u in sorted(set(old_res) - set(new_res))]
    for urn in sorted(set(old_res) & set(new_res)):
        changes = resource_changes(old_res[urn], new_res[urn])
        if changes:
            res["changed"].append({**_brief(new_res[urn]), "changes": changes})
    outputs: list[dict[str, Any]] = []
    diff_values((old or {}).get("outputs") or {}, (new or {}).get("outputs") or {}, ["outputs"], outputs)
    outputs.extend(
        _secret_changes(
            {
                "secretFingerprints": {
                    pointer([k]): v for k, v in ((old or {}).get("secretOutputFingerprints") or {}).items()
                }
            },
            {
                "secretFingerprints": {
                    pointer([k]): v for k, v in ((new or {}).get("secretOutputFingerprints") or {}).items()
                }
            },
            ["outputs"],
        )
    )
    for change in outputs:
        if change.get("old") == SECRET and change.get("new") == SECRET:
            change["secret"] = True
    result["outputs"] = outputs
    result["violations"] = violation_delta(
        list((old or {}).get("violations") or []), list((new or {}).get("violations") or [])
    )
    if old is None:
        result["status"] = "added"
    elif new is None:
        result["status"] = "removed"
    elif any(res.values()) or outputs or any(result["violations"][k] for k in ("appeared", "disappeared", "changed")):
        result["status"] = "changed"
    return result


def diff_inventories(base: dict[str, Any], head: dict[str, Any], stacks: list[str] | None = None) -> dict[str, Any]:
    """The whole diff document (without revision labels): per stack, a summary, and the exit code."""
    old = {s["stack"]: s for s in base.get("stacks", [])}
    new = {s["stack"]: s for s in head.get("stacks", [])}
    names = [n for n in [*new, *(n for n in old if n not in new)] if not stacks or n in stacks]
    per_stack = [diff_stack(n, old.get(n), new.get(n)) for n in names]
    summary = {
        "added": sum(len(s["resources"]["added"]) for s in per_stack),
        "removed": sum(len(s["resources"]["removed"]) for s in per_stack),
        "changed": sum(len(s["resources"]["changed"]) for s in per_stack),
        "outputsChanged": sum(len(s["outputs"]) for s in per_stack),
        "violationsAppeared": sum(len(s["violations"]["appeared"]) for s in per_stack),
        "violationsDisappeared": sum(len(s["violations"]["disappeared"]) for s in per_stack),
        "newMandatoryViolations": sum(len(s["violations"]["newMandatory"]) for s in per_stack),
        "stacksFailingAtHead": [s["stack"] for s in per_stack if s["status"] == "fails-at-head"],
    }
    if summary["stacksFailingAtHead"]:
        code = EXIT_USAGE
    elif summary["newMandatoryViolations"]:
        code = EXIT_NEW_MANDATORY
    elif any(s["status"] != "unchanged" for s in per_stack):
        code = EXIT_CHANGES
    else:
        code = EXIT_NO_CHANGE
    return {"summary": summary, "stacks": per_stack, "exitCode": code}


# --------------------------------------------------------------------------------------------- command


def add_diff_parser(sub: Any) -> None:
    diff = sub.add_parser(
        "diff",
        help="compare every stack's inventory and policy results between two git revisions",
        description="Compare the inventory of every stack at BASE with HEAD (default: the working tree).",
    )
    diff.add_argument("base", metavar="BASE", help="base revision (a branch, tag or commit, e.g. origin/main)")
    diff.add_argument("head", metavar="HEAD", nargs="?", help="head revision (default: the working tree)")
    diff.add_argument("--stack", action="append", default=[], metavar="STACK", help="only this stack (repeatable)")
    diff.add_argument("--format", choices=("terminal", "markdown", "json"), default="terminal")
    diff.add_argument("--output", type=Path, help="write the report to this file instead of stdout")
    diff.add_argument("--project-dir", type=Path, default=Path.cwd(), help="the Pulumi project (default: .)")


def _timing(snapshot: Snapshot) -> dict[str, Any]:
    return {"checkExitCode": snapshot.exit_code, "checkSeconds": round(snapshot.seconds, 1)}


def run_diff(args: argparse.Namespace) -> int:
    from infra.render.diff_markdown import render_diff_markdown
    from infra.render.diff_terminal import render_diff_terminal
    from infra.render.json_format import render_json

    try:
        project_dir = args.project_dir.resolve()
        root = repo_root(project_dir)
        rel = project_dir.relative_to(root)
        base_commit = resolve(root, args.base)
        head_commit = resolve(root, args.head) if args.head else None
    except GitError as exc:
        print(f"infra diff: {exc}", file=sys.stderr)
        return EXIT_USAGE
    head_label = args.head or WORKING_TREE
    key = secrets.token_hex(32)
    venv = Path(sys.prefix) if sys.prefix != sys.base_prefix else None
    print(f"infra diff: checking {args.base} and {head_label} in separate processes", file=sys.stderr)
    try:
        with ExitStack() as stack:
            base_dir = stack.enter_context(revision_dir(root, rel, base_commit, venv))
            head_dir = stack.enter_context(revision_dir(root, rel, head_commit, venv))
            with ThreadPoolExecutor(max_workers=2) as pool:
                base_f = pool.submit(check_revision, base_dir, args.stack, key=key, label=args.base, commit=base_commit)
                head_f = pool.submit(
                    check_revision, head_dir, args.stack, key=key, label=head_label, commit=head_commit
                )
                base, head = base_f.result(), head_f.result()
    except (DiffError, GitError) as exc:
        print(f"infra diff: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result = diff_inventories(base.doc, head.doc, args.stack or None)
    doc = {
        "base": {"rev": args.base, "commit": base_commit, **_timing(base)},
        "head": {"rev": head_label, "commit": head_commit, **_timing(head)},
        **result,
    }
    print(f"infra diff: checked in {base.seconds:.1f}s (base) and {head.seconds:.1f}s (head)", file=sys.stderr)
    for s in result["stacks"]:
        for problem in s["problems"]["head"]:
            print(f"{s['stack']}: does not check at {head_label}: {problem}", file=sys.stderr)
    if args.format == "json":
        text = render_json(doc)
    elif args.format == "markdown":
        text = render_diff_markdown(doc)
    else:
        text = render_diff_terminal(doc)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return int(result["exitCode"])
