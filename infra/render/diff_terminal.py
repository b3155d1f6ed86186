"""``infra diff`` for a terminal: per stack, + added, - removed, ~ changed with property paths."""

from __future__ import annotations

from typing import Any

from infra.render.diff_common import STATUS_TEXT, blocking, change_text, stack_counts, violation_text


def render_diff_terminal(doc: dict[str, Any]) -> str:
    base, head = doc["base"], doc["head"]
    head_commit = f" ({head['commit'][:12]})" if head.get("commit") else ""
    lines = [f"infra diff {base['rev']} ({base['commit'][:12]}) → {head['rev']}{head_commit}", ""]
    for stack in doc["stacks"]:
        status = STATUS_TEXT.get(stack["status"], stack["status"])
        lines.append(
            f"Stack {stack['stack']}: {status}" + ("" if stack["status"] == "unchanged" else f"; {stack_counts(stack)}")
        )
        for side in ("base", "head"):
            lines.extend(f"  error at {side}: {p}" for p in stack["problems"][side])
        res = stack["resources"]
        lines.extend(f"  + {r['type']}  {r['name']}" for r in res["added"])
        lines.extend(f"  - {r['type']}  {r['name']}" for r in res["removed"])
        for r in res["changed"]:
            lines.append(f"  ~ {r['type']}  {r['name']}  (changed; may replace)")
            lines.extend(f"      {c['path']}: {change_text(c)}" for c in r["changes"])
        if stack["outputs"]:
            lines.append("  Exports:")
            lines.extend(f"      {c['path']}: {change_text(c)}" for c in stack["outputs"])
        if not stack.get("policiesChecked", {}).get("head", True):
            lines.append("  (no policy results at head: the policy pack did not run)")
        v = stack["violations"]
        if v["appeared"] or v["disappeared"] or v["changed"]:
            lines.append("  Policies:")
            lines.extend(f"    {'❌' if blocking(x) else '⚠️'} new  {violation_text(x)}" for x in v["appeared"])
            lines.extend(f"    ✅ gone {violation_text(x)}" for x in v["disappeared"])
            lines.extend(
                f"    ~ was  {violation_text(c['before'])}\n      now  {violation_text(c['after'])}"
                for c in v["changed"]
            )
        lines.append("")
    s = doc["summary"]
    lines.append(
        f"{s['added']} to add, {s['changed']} to change, {s['removed']} to remove; "
        f"policy violations: {s['violationsAppeared']} new ({s['newMandatoryViolations']} mandatory), "
        f"{s['violationsDisappeared']} resolved"
    )
    return "\n".join(lines) + "\n"
