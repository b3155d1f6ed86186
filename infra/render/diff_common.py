"""Helpers shared by the diff renderers: value text, counts, violation lines."""

from __future__ import annotations

import json
from typing import Any

SECRET = "[secret]"
MAX_VALUE = 160


def value_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def change_text(change: dict[str, Any]) -> str:
    """``365 → 400``, ``+ "x"``, ``- "x"``; a secret is never shown, only that it changed."""
    if change.get("secret"):
        return f"{SECRET} → {SECRET} (secret value changed)"
    if change["op"] == "add":
        return f"(none) → {value_text(change['new'])}"
    if change["op"] == "remove":
        return f"{value_text(change['old'])} → (none)"
    return f"{value_text(change['old'])} → {value_text(change['new'])}"


def stack_counts(stack: dict[str, Any]) -> str:
    res = stack["resources"]
    parts = [f"{len(res['added'])} to add", f"{len(res['changed'])} to change", f"{len(res['removed'])} to remove"]
    if stack["outputs"]:
        parts.append(f"{len(stack['outputs'])} export changes")
    return ", ".join(parts)


def blocking(v: dict[str, Any]) -> bool:
    return v.get("enforcement") == "mandatory" and not v.get("exempt")


def violation_text(v: dict[str, Any]) -> str:
    where = (v.get("urn") or "").rsplit("::", 1)[-1] or "(stack)"
    exempt = " (exempt)" if v.get("exempt") else ""
    return f"[{v.get('enforcement')}/{v.get('severity')}] {v.get('pack')}/{v.get('policy')} on {where}{exempt}: {v.get('message')}"


STATUS_TEXT = {
    "added": "new stack",
    "removed": "stack removed",
    "changed": "changed",
    "unchanged": "no changes",
    "fails-at-head": "does not check at head",
    "fixed": "did not check at base, checks now",
}
