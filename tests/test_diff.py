"""``infra diff``: synthetic inventories (the diff logic) and a real temporary git repository (end to end).

The repository is a copy of the project as committed (``git archive HEAD``) plus a small test-only
block in ``__main__.py`` driven by a ``difftest:`` config namespace: a secret SSM parameter, an S3
bucket with its own provider (so its tags are only what the config gives it), and an export of a
marker defined in ``stackconfig/__init__.py`` (to prove each revision runs its own modules).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cli import main
from infra.diff import (
    EXIT_CHANGES,
    EXIT_NEW_MANDATORY,
    EXIT_NO_CHANGE,
    EXIT_USAGE,
    diff_inventories,
    resource_changes,
    violation_delta,
)
from infra.fingerprint import KEY_ENV, pointer, secret_fingerprints
from infra.render.diff_markdown import MARKER, render_diff_markdown
from infra.render.diff_terminal import render_diff_terminal

ROOT = Path(__file__).resolve().parent.parent
SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's secret signature key
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

# --------------------------------------------------------------------------------------------- synthetic


def _res(urn: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "urn": urn,
        "type": urn.split("::")[2].rsplit("$", 1)[-1],
        "name": urn.rsplit("::", 1)[-1],
        **extra,
        "inputs": inputs,
    }


URN_LG = "urn:pulumi:s::p::aws:cloudwatch/logGroup:LogGroup::lg"
URN_B = "urn:pulumi:s::p::aws:s3/bucket:Bucket::b"
URN_P = "urn:pulumi:s::p::aws:ssm/parameter:Parameter::psk"


def _doc(*resources: dict[str, Any], violations: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    stack: dict[str, Any] = {"stack": "s", "resources": list(resources), "outputs": {}, "problems": [], **extra}
    if violations is not None:
        stack["violations"] = violations
    return {"stacks": [stack]}


def _v(
    policy: str, urn: str = URN_B, enforcement: str = "mandatory", exempt: bool = False, message: str = "m"
) -> dict[str, Any]:
    return {
        "policy": policy,
        "pack": "data-residency",
        "enforcement": enforcement,
        "severity": "high",
        "urn": urn,
        "message": message,
        "exempt": exempt,
    }


def test_identical_inventories_are_no_change() -> None:
    doc = _doc(_res(URN_LG, {"retentionInDays": 365, "tags": {"a/b": "x"}}))
    result = diff_inventories(doc, json.loads(json.dumps(doc)))
    assert result["exitCode"] == EXIT_NO_CHANGE
    assert result["stacks"][0]["status"] == "unchanged"


def test_property_changes_are_json_pointers_old_to_new() -> None:
    old = _res(URN_LG, {"retentionInDays": 365, "tags": {"kubernetes.io/role": "a", "gone": "x"}, "list": [1, 2]})
    new = _res(URN_LG, {"retentionInDays": 400, "tags": {"kubernetes.io/role": "b"}, "list": [1, 2, 3]})
    changes = {c["path"]: c for c in resource_changes(old, new)}
    assert changes["/inputs/retentionInDays"] == {
        "path": "/inputs/retentionInDays",
        "op": "replace",
        "old": 365,
        "new": 400,
    }
    assert changes["/inputs/tags/kubernetes.io~1role"]["new"] == "b"
    assert changes["/inputs/tags/gone"]["op"] == "remove"
    assert changes["/inputs/list/2"] == {"path": "/inputs/list/2", "op": "add", "new": 3}
    assert len(changes) == 4


def test_json_policy_documents_are_diffed_structurally() -> None:
    old = _res(URN_B, {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]})})
    new = _res(URN_B, {"policy": json.dumps({"Statement": [{"Effect": "Deny", "Action": "s3:GetObject"}]})})
    assert [c["path"] for c in resource_changes(old, new)] == ["/inputs/policy#/Statement/0/Effect"]


def test_added_removed_and_provider_change() -> None:
    base = _doc(_res(URN_LG, {}, provider="urn:a"), _res(URN_P, {}))
    head = _doc(_res(URN_LG, {}, provider="urn:b"), _res(URN_B, {}))
    (stack,) = diff_inventories(base, head)["stacks"]
    assert [r["urn"] for r in stack["resources"]["added"]] == [URN_B]
    assert [r["urn"] for r in stack["resources"]["removed"]] == [URN_P]
    assert stack["resources"]["changed"][0]["changes"] == [
        {"path": "/provider", "op": "replace", "old": "urn:a", "new": "urn:b"}
    ]


def test_fingerprints_need_a_key_and_are_keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    wire = {"a": {"b": [{SIG: SECRET_SIG, "value": "hunter2"}]}, "plain": "x"}
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert secret_fingerprints(wire) == {}
    one = secret_fingerprints(wire, b"k1")
    assert list(one) == ["/a/b/0"] and "hunter2" not in json.dumps(one)
    assert one != secret_fingerprints(wire, b"k2"), "a plain hash of a short secret would be guessable"
    assert one == secret_fingerprints(json.loads(json.dumps(wire)), b"k1")
    assert pointer(["tags", "a/b~c", 0]) == "/tags/a~1b~0c/0"


def test_changed_secret_shows_as_changed_without_its_value() -> None:
    old = _res(URN_P, {"value": "[secret]", "name": "psk"}, secretFingerprints={"/value": "aaaa"})
    same = _res(URN_P, {"value": "[secret]", "name": "psk"}, secretFingerprints={"/value": "aaaa"})
    new = _res(URN_P, {"value": "[secret]", "name": "psk"}, secretFingerprints={"/value": "bbbb"})
    assert resource_changes(old, same) == []
    (change,) = resource_changes(old, new)
    assert change == {"path": "/inputs/value", "op": "replace", "old": "[secret]", "new": "[secret]", "secret": True}
    # Without fingerprints on one side (an older revision), nothing can be said: no change reported.
    assert resource_changes({**old, "secretFingerprints": None}, new) == []
    doc = {
        "base": {"rev": "a", "commit": "0" * 40},
        "head": {"rev": "b", "commit": None},
        **diff_inventories(_doc(old), _doc(new)),
    }
    for text in (render_diff_terminal(doc), render_diff_markdown(doc)):
        assert "secret value changed" in text and "aaaa" not in text and "bbbb" not in text


def test_secret_exports_compare_by_fingerprint() -> None:
    base = _doc(outputs_placeholder := _res(URN_LG, {}), secretOutputFingerprints={"kubeconfig": "1"})
    base["stacks"][0]["outputs"] = {"kubeconfig": "[secret]"}
    head = json.loads(json.dumps(base))
    head["stacks"][0]["secretOutputFingerprints"] = {"kubeconfig": "2"}
    assert outputs_placeholder
    (stack,) = diff_inventories(base, head)["stacks"]
    assert stack["outputs"] == [
        {"path": "/outputs/kubeconfig", "op": "replace", "old": "[secret]", "new": "[secret]", "secret": True}
    ]


def test_policy_delta_and_exit_code_precedence() -> None:
    kept, gone = _v("kms-rotation", URN_LG), _v("s3-versioning")
    new_mand, new_adv = _v("required-tags"), _v("log-retention", URN_LG, enforcement="advisory")
    base = _doc(_res(URN_B, {"tags": {"owner": "x"}}), _res(URN_LG, {}), violations=[kept, gone])
    head = _doc(_res(URN_B, {"tags": {}}), _res(URN_LG, {}), violations=[kept, new_mand, new_adv])
    result = diff_inventories(base, head)
    delta = result["stacks"][0]["violations"]
    assert [v["policy"] for v in delta["appeared"]] == ["log-retention", "required-tags"]
    assert [v["policy"] for v in delta["disappeared"]] == ["s3-versioning"]
    assert [v["policy"] for v in delta["newMandatory"]] == ["required-tags"]
    assert result["exitCode"] == EXIT_NEW_MANDATORY  # takes precedence over "changes"
    # Only an advisory one appearing, or only one resolved: changes, not blocking.
    assert (
        diff_inventories(base, _doc(*head["stacks"][0]["resources"], violations=[kept, gone, new_adv]))["exitCode"]
        == EXIT_CHANGES
    )
    assert diff_inventories(base, _doc(*base["stacks"][0]["resources"], violations=[kept]))["exitCode"] == EXIT_CHANGES
    # The same violation, only exempt at head: not new; an exemption that expired: new and mandatory.
    exempt = violation_delta([new_mand], [{**new_mand, "exempt": True}])
    assert exempt["newMandatory"] == [] and len(exempt["changed"]) == 1
    expired = violation_delta([{**new_mand, "exempt": True}], [{**new_mand, "message": "exemption expired"}])
    assert len(expired["newMandatory"]) == 1
    # Absent "violations" (no pack at that revision) counts as none.
    assert violation_delta([], []) == {"appeared": [], "disappeared": [], "changed": [], "newMandatory": []}
    assert diff_inventories(_doc(), _doc(violations=[new_mand]))["exitCode"] == EXIT_NEW_MANDATORY


def test_stack_failing_at_head_is_exit_2_and_fixed_stack_is_a_change() -> None:
    broken = _doc()
    broken["stacks"][0]["problems"] = ["hybrid-llm-infra:network.azCount: must be 2-6"]
    assert diff_inventories(_doc(), broken)["exitCode"] == EXIT_USAGE
    fixed = diff_inventories(broken, _doc(_res(URN_B, {})))
    assert fixed["exitCode"] == EXIT_CHANGES and fixed["stacks"][0]["status"] == "fixed"


def test_markdown_collapses_long_property_diffs() -> None:
    old = _res(URN_B, {f"k{i}": i for i in range(6)})
    new = _res(URN_B, {f"k{i}": i + 1 for i in range(6)})
    short_old, short_new = _res(URN_LG, {"r": 1}), _res(URN_LG, {"r": 2})
    doc = {"base": {"rev": "origin/main", "commit": "a" * 40}, "head": {"rev": "working tree", "commit": None}}
    doc |= diff_inventories(_doc(old, short_old), _doc(new, short_new))
    text = render_diff_markdown(doc)
    assert text.startswith(MARKER) and "### s" in text
    assert text.count("<details>") == 1 and "6 properties" in text
    assert "- `/inputs/r`: `1 → 2`" in text


def test_markdown_collapses_long_tables_and_stays_under_githubs_comment_limit() -> None:
    many = [_res(f"urn:pulumi:s::p::aws:s3/bucket:Bucket::b{i:05}", {"k": "x" * 50}) for i in range(2000)]
    doc = {"base": {"rev": "a", "commit": "a" * 40}, "head": {"rev": "b", "commit": None}}
    doc |= diff_inventories(_doc(), _doc(*many))
    text = render_diff_markdown(doc)
    assert len(text) <= 65_536 and "truncated" in text
    assert text.count("<details>") == text.count("</details>") == 1


# --------------------------------------------------------------------------------------------- end to end

SNIPPET = """

# --- test-only (tests/test_diff.py): resources driven by the "difftest:" config namespace ---
import pulumi_aws as _difftest_aws  # noqa: E402

import stackconfig as _difftest_stackconfig  # noqa: E402

_difftest = pulumi.Config("difftest")
pulumi.export("difftestMarker", getattr(_difftest_stackconfig, "DIFFTEST_MARKER", "absent"))
if _difftest.get("region"):
    _difftest_provider = _difftest_aws.Provider("difftest-aws", region=_difftest.get("region"))
    _difftest_opts = pulumi.ResourceOptions(provider=_difftest_provider)
    if _difftest.get_secret("token") is not None:
        _difftest_aws.ssm.Parameter(
            "difftest-token", type="SecureString", value=_difftest.get_secret("token"), opts=_difftest_opts
        )
    if _difftest.get_object("bucketTags") is not None:
        _difftest_aws.s3.Bucket("difftest-bucket", tags=_difftest.get_object("bucketTags"), opts=_difftest_opts)
"""

FULL_TAGS = {
    "data-residency": "eu",
    "data-classification": "confidential",
    "owner": "ml-platform",
    "cost-center": "cc-4711",
    "environment": "production",
}


def _git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    ident = ["-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]
    done = subprocess.run(["git", *ident, *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _edit_stack(repo: Path, stack: str, edit: Any) -> None:
    path = repo / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data["config"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _commit(repo: Path, tag: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", tag)
    _git(repo, "tag", tag)


@pytest.fixture(scope="module")
def repo() -> Iterator[Path]:
    if (
        shutil.which("git") is None
        or subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode
    ):
        pytest.skip("needs git and the project as a git checkout")
    tmp = Path(tempfile.mkdtemp(prefix="test-diff-"))
    repo = tmp / "repo"
    repo.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"], capture_output=True, check=True
    )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
            tar.extractall(repo, filter="data")
        else:  # pragma: no cover - our own HEAD, from git archive
            tar.extractall(repo)
    with (repo / "__main__.py").open("a") as f:
        f.write(SNIPPET)
    with (repo / "stackconfig" / "__init__.py").open("a") as f:
        f.write('\nDIFFTEST_MARKER = "v1"\n')

    def secret(value: str) -> Any:
        return lambda c: c.update({"difftest:region": "eu-central-1", "difftest:token": value})

    _edit_stack(repo, "frankfurt", secret("alpha-secret-1"))
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "c0")
    with (repo / "README.md").open("a") as f:  # docs: a commit that changes no infrastructure
        f.write("\nA line of documentation.\n")
    _commit(repo, "docs")
    # c1: a changed property (flow-log retention) and a code-only change (the marker).
    _edit_stack(repo, "frankfurt", lambda c: c["hybrid-llm-infra:network"].update(flowLogRetentionDays=180))
    init = repo / "stackconfig" / "__init__.py"
    init.write_text(init.read_text().replace('DIFFTEST_MARKER = "v1"', 'DIFFTEST_MARKER = "v2"'))
    _commit(repo, "c1")
    # c2: a secret that changes, and a bucket added.
    _edit_stack(repo, "frankfurt", secret("beta-secret-2"))
    _edit_stack(repo, "frankfurt", lambda c: c.update({"difftest:bucketTags": dict(FULL_TAGS)}))
    _commit(repo, "c2")
    tags = {k: v for k, v in FULL_TAGS.items() if k != "owner"}
    _edit_stack(repo, "frankfurt", lambda c: c.update({"difftest:bucketTags": tags}))  # c3: a tag removed
    _commit(repo, "c3")
    yield repo
    shutil.rmtree(tmp, ignore_errors=True)


def _diff(repo: Path, *args: str, fmt: str = "json") -> tuple[int, str]:
    out = repo.parent / f"diff-{os.getpid()}.out"
    out.unlink(missing_ok=True)
    code = main(["diff", *args, "--format", fmt, "--output", str(out), "--project-dir", str(repo)])
    return code, out.read_text() if out.exists() else ""


def _changed(doc: dict[str, Any], stack: str, name: str) -> dict[str, Any]:
    (st,) = [s for s in doc["stacks"] if s["stack"] == stack]
    (res,) = [r for r in st["resources"]["changed"] if r["name"] == name]
    return {c["path"]: c for c in res["changes"]}


def test_docs_only_commit_is_no_change_and_leaves_no_worktree(repo: Path) -> None:
    # Two independent runs (same fingerprint key) of the same infrastructure: ids, exports, the
    # secret kubeconfig export's fingerprint all agree.
    code, text = _diff(repo, "c0", "docs", "--stack", "frankfurt")
    assert code == EXIT_NO_CHANGE, text
    assert json.loads(text)["stacks"][0]["status"] == "unchanged"
    assert _git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert _git(repo, "status", "--porcelain") == "" and _git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_changed_property_and_each_revision_runs_its_own_modules(repo: Path) -> None:
    code, text = _diff(repo, "c0", "c1", "--stack", "frankfurt")
    assert code == EXIT_CHANGES
    doc = json.loads(text)
    changes = _changed(doc, "frankfurt", "frankfurt-flow-logs")
    assert changes["/inputs/retentionInDays"]["old"] == 365 and changes["/inputs/retentionInDays"]["new"] == 180
    (st,) = doc["stacks"]
    # stackconfig is imported by the tool before the program runs: v1 at base proves no module leaked in.
    assert {"path": "/outputs/difftestMarker", "op": "replace", "old": "v1", "new": "v2"} in st["outputs"]


def test_changed_secret_is_shown_changed_never_shown_and_added_bucket(repo: Path) -> None:
    code, text = _diff(repo, "c1", "c2", "--stack", "frankfurt")
    doc = json.loads(text)
    assert _changed(doc, "frankfurt", "difftest-token")["/inputs/value"] == {
        "path": "/inputs/value",
        "op": "replace",
        "old": "[secret]",
        "new": "[secret]",
        "secret": True,
    }
    for rendered in (text, render_diff_terminal(doc), render_diff_markdown(doc)):
        assert "alpha-secret-1" not in rendered and "beta-secret-2" not in rendered
        assert "secret value changed" in rendered or rendered is text
    (st,) = doc["stacks"]
    assert [r["name"] for r in st["resources"]["added"]] == ["difftest-bucket"]
    assert st["resources"]["removed"] == [] and [r["name"] for r in st["resources"]["changed"]] == ["difftest-token"]
    assert code == (EXIT_NEW_MANDATORY if st["violations"]["newMandatory"] else EXIT_CHANGES)


def test_removed_tag_creates_a_violation(repo: Path) -> None:
    code, text = _diff(repo, "c2", "c3", "--stack", "frankfurt")
    doc = json.loads(text)
    assert _changed(doc, "frankfurt", "difftest-bucket")["/inputs/tags/owner"] == {
        "path": "/inputs/tags/owner",
        "op": "remove",
        "old": "ml-platform",
    }
    (st,) = doc["stacks"]
    if not st["policiesChecked"]["head"]:
        assert code == EXIT_CHANGES
        pytest.skip("infra check has no policy results yet (the pack is not wired in): violation part not asserted")
    on_bucket = [v for v in st["violations"]["appeared"] if (v.get("urn") or "").endswith("::difftest-bucket")]
    assert on_bucket, "removing the owner tag from the bucket must create a policy violation"
    assert code == (EXIT_NEW_MANDATORY if st["violations"]["newMandatory"] else EXIT_CHANGES)


def test_working_tree_is_the_default_head_added_namespace(repo: Path) -> None:
    _edit_stack(repo, "onprem", lambda c: c["hybrid-llm-infra:kubernetes"]["namespaces"].append("batch"))
    try:
        code, text = _diff(repo, "c3", "--stack", "onprem", fmt="json")
        doc = json.loads(text)
        assert doc["head"]["rev"] == "working tree" and doc["head"]["commit"] is None
        assert doc["head"]["checkExitCode"] in (0, 1) and doc["head"]["checkSeconds"] > 0
        (st,) = doc["stacks"]
        added = [r for r in st["resources"]["added"] if r["type"] == "kubernetes:core/v1:Namespace"]
        assert [r["name"] for r in added] == ["onprem-ns-batch"]
        assert code == (EXIT_NEW_MANDATORY if st["violations"]["newMandatory"] else EXIT_CHANGES)
        markdown = render_diff_markdown(doc)
        assert markdown.startswith(MARKER) and "onprem-ns-batch" in markdown and "### onprem" in markdown
    finally:
        _git(repo, "checkout", "--", "Pulumi.onprem.yaml")


def test_unknown_revision_and_not_a_repository_are_usage_errors(repo: Path, tmp_path: Path) -> None:
    assert _diff(repo, "no-such-rev")[0] == EXIT_USAGE
    # A revision that looks like an option never reaches git as one.
    assert main(["diff", "--project-dir", str(repo), "--", "--output=x"]) == EXIT_USAGE
    with pytest.raises(SystemExit) as exc:
        main(["diff", "c0", "--format", "yaml", "--project-dir", str(repo)])
    assert exc.value.code == EXIT_USAGE
    outside = tmp_path / "plain"
    outside.mkdir()
    assert main(["diff", "HEAD", "--project-dir", str(outside)]) == EXIT_USAGE


def test_command_exit_1_on_new_mandatory_violation_and_worktrees_always_removed(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's own paths, with the checks replaced: exit 1 from a policy delta; 2 when a check fails."""
    import infra.diff as diff_module

    seen: list[Path] = []

    def fake_check(project_dir: Path, stacks: list[str], *, key: str, label: str, commit: str | None) -> Any:
        seen.append(project_dir)
        assert (project_dir / "Pulumi.yaml").is_file() and len(key) == 64
        violations = [_v("required-tags")] if label == "c1" else []
        return diff_module.Snapshot(label=label, commit=commit, doc=_doc(_res(URN_B, {}), violations=violations))

    monkeypatch.setattr(diff_module, "check_revision", fake_check)
    code, text = _diff(repo, "c0", "c1")
    assert code == EXIT_NEW_MANDATORY and json.loads(text)["summary"]["newMandatoryViolations"] == 1
    assert len(seen) == 2 and all(not p.exists() for p in seen), "temporary worktrees are removed"

    def failing_check(project_dir: Path, stacks: list[str], **_: Any) -> Any:
        seen.append(project_dir)
        raise diff_module.DiffError("infra check at c0 failed (exit 70): boom")

    monkeypatch.setattr(diff_module, "check_revision", failing_check)
    assert _diff(repo, "c0", "c1")[0] == EXIT_USAGE
    assert all(not p.exists() for p in seen)
    assert _git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_stack_that_does_not_check_at_head_is_exit_2(repo: Path) -> None:
    _edit_stack(repo, "frankfurt", lambda c: c["hybrid-llm-infra:network"].update(azCount=99))
    try:
        code, text = _diff(repo, "c3", "--stack", "frankfurt")
    finally:
        _git(repo, "checkout", "--", "Pulumi.frankfurt.yaml")
    assert code == EXIT_USAGE
    (st,) = json.loads(text)["stacks"]
    assert st["status"] == "fails-at-head" and any("azCount" in p for p in st["problems"]["head"])
