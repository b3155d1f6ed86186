"""``infra diff --format markdown``: a pull-request comment, one section per stack.

Short property diffs are listed inline; a resource with more than a few changed properties gets a
collapsed ``<details>`` table. Starts with a hidden marker so a workflow can update its own comment.
"""

from __future__ import annotations

from typing import Any

from infra.render.diff_common import STATUS_TEXT, blocking, change_text, violation_text

MARKER = "<!-- infra-diff -->"
INLINE_CHANGES = 3
TABLE_ROWS = 15
MAX_CHARS = 60_000


def _code(text: str) -> str:
    text = str(text).replace("\n", " ")
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _text(text: str) -> str:
    """Free text (policy messages): no HTML, no line breaks."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _cell(text: str) -> str:
    return _code(text).replace("|", "\\|")


def render_diff_markdown(doc: dict[str, Any]) -> str:
    base, head = doc["base"], doc["head"]
    s = doc["summary"]
    head_ref = _code(head["rev"]) + (f" ({head['commit'][:12]})" if head.get("commit") else "")
    out = [
        MARKER,
        f"## Infrastructure diff: {_code(base['rev'])} ({base['commit'][:12]}) → {head_ref}",
        "",
    ]
    if s["stacksFailingAtHead"]:
        out.append(f"❌ **Does not check:** {', '.join(s['stacksFailingAtHead'])}")
    elif s["newMandatoryViolations"]:
        out.append(f"❌ **{s['newMandatoryViolations']} new mandatory policy violation(s)**")
    elif doc["exitCode"] == 0:
        out.append("✅ No infrastructure changes.")
    else:
        out.append("🔶 Infrastructure changes; no new mandatory policy violations.")
    unchecked = [st["stack"] for st in doc["stacks"] if not st.get("policiesChecked", {}).get("head", True)]
    if unchecked:
        out.append(
            f"\n_Note:_ no policy results at head for {', '.join(unchecked)}: the policy pack did not run there."
        )
    out += [
        "",
        "| stack | status | add | change | remove | new violations | resolved |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for st in doc["stacks"]:
        res, v = st["resources"], st["violations"]
        out.append(
            f"| {st['stack']} | {STATUS_TEXT.get(st['status'], st['status'])} | {len(res['added'])} | "
            f"{len(res['changed'])} | {len(res['removed'])} | {len(v['appeared'])} | {len(v['disappeared'])} |"
        )
    for st in doc["stacks"]:
        if st["status"] == "unchanged":
            continue
        out += ["", f"### {st['stack']}", ""]
        for side in ("base", "head"):
            out.extend(f"- ⛔ error at {side}: {_code(p)}" for p in st["problems"][side])
        res = st["resources"]
        if res["added"] or res["removed"]:
            rows = len(res["added"]) + len(res["removed"])
            if rows > TABLE_ROWS:
                out += [
                    "<details>",
                    f"<summary>{len(res['added'])} to add, {len(res['removed'])} to remove</summary>",
                    "",
                ]
            out += ["| | type | name |", "| --- | --- | --- |"]
            out.extend(f"| 🟢 add | {_cell(r['type'])} | {_cell(r['name'])} |" for r in res["added"])
            out.extend(f"| 🔴 remove | {_cell(r['type'])} | {_cell(r['name'])} |" for r in res["removed"])
            out += ["", "</details>", ""] if rows > TABLE_ROWS else [""]
        for r in res["changed"]:
            head_line = f"🔄 {_code(r['type'])} {_code(r['name'])} (changed or replaced)"
            if len(r["changes"]) <= INLINE_CHANGES:
                out.append(f"- {head_line}")
                out.extend(f"  - {_code(c['path'])}: {_code(change_text(c))}" for c in r["changes"])
            else:
                out += [
                    "<details>",
                    f"<summary>{head_line}: {len(r['changes'])} properties</summary>",
                    "",
                    "| property | change |",
                    "| --- | --- |",
                ]
                out.extend(f"| {_cell(c['path'])} | {_cell(change_text(c))} |" for c in r["changes"])
                out += ["", "</details>", ""]
        if st["outputs"]:
            out += ["", "**Exports**", ""]
            out.extend(f"- {_code(c['path'])}: {_code(change_text(c))}" for c in st["outputs"])
        v = st["violations"]
        if v["appeared"] or v["disappeared"] or v["changed"]:
            out += ["", "**Policy results**", ""]
            out.extend(f"- {'❌' if blocking(x) else '⚠️'} new: {_text(violation_text(x))}" for x in v["appeared"])
            out.extend(f"- ✅ resolved: {_text(violation_text(x))}" for x in v["disappeared"])
            out.extend(
                f"- 🔄 {_text(violation_text(c['before']))} → now {_text(c['after'].get('enforcement'))}"
                + (" (exempt)" if c["after"].get("exempt") else "")
                + f": {_text(c['after'].get('message'))}"
                for c in v["changed"]
            )
    out += [
        "",
        f"<sub>{s['added']} to add, {s['changed']} to change, {s['removed']} to remove · offline inventory under "
        "Pulumi's mock engine (`infra diff`); secrets are never shown.</sub>",
    ]
    text = "\n".join(out) + "\n"
    if len(text) > MAX_CHARS:
        # GitHub refuses comments over 65,536 characters; keep the summary and say where the rest is.
        cut = text.rfind("\n", 0, MAX_CHARS)
        text = text[:cut] + "\n\n… truncated: run `infra diff --format json` for the whole diff.\n"
        if text.count("<details>") > text.count("</details>"):
            text += "\n</details>\n"
    return text
