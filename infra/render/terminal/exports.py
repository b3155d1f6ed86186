"""A stack's exports: short values inline, long or multi-line ones as a placeholder; ``--show-output`` prints one.

Values come from the inventory, where secret exports (and secrets nested in a value) are already ``[secret]``
(infra/inventory.py), so nothing here can print a secret; ``pulumi stack output NAME`` likewise prints
``[secret]`` unless asked for ``--show-secrets``, which ``infra`` does not offer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from infra.engine import SECRET
from infra.render.terminal.style import Style, display_width, truncate_middle


def raw_value(value: Any) -> str:
    """What ``--show-output`` prints: a string as it is, anything else as indented JSON (like ``pulumi stack output``)."""
    return value if isinstance(value, str) else json.dumps(value, indent=2)


def inline_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def placeholder(name: str, value: Any, room: int | None = None) -> str:
    """``<312 chars, 18 lines: --show-output NAME>``; without the hint when ``room`` is too narrow for it."""
    raw = raw_value(value)
    lines = len(raw.splitlines()) or 1
    size = f"{len(raw)} chars, {lines} line{'s' if lines != 1 else ''}"
    full = f"<{size}: --show-output {name}>"
    return full if room is None or len(full) <= room else f"<{size}>"


def render_exports(outputs: dict[str, Any], style: Style, indent: str = "    ") -> list[str]:
    if not outputs:
        return []
    key_col = min(max(len(k) for k in outputs), style.width // 3)
    lines = []
    for key in sorted(outputs):
        value = outputs[key]
        left = indent + truncate_middle(key, key_col, style.ellipsis).ljust(key_col) + "  "
        room = style.width - display_width(left)
        if value == SECRET:
            shown = style.paint(SECRET, "33")
        else:
            text = inline_value(value)
            single = "\n" not in text and "\r" not in text
            if single and display_width(text) <= room:
                shown = text
            else:
                shown = style.paint(truncate_middle(placeholder(key, value, room), room, style.ellipsis), "2")
        lines.append(left + shown)
    return lines


def show_output(doc: dict[str, Any], name: str, stacks: Sequence[str], out: TextIO, err: TextIO) -> int:
    """Print export ``name`` of the one stack among ``stacks`` that has it, raw; 0, or 2 when none or several do."""
    holders = [s for s in doc["stacks"] if s["stack"] in stacks and name in s["outputs"]]
    if not holders:
        failed = [s["stack"] for s in doc["stacks"] if s["problems"]]
        why = f" ({', '.join(failed)} did not run cleanly)" if failed else ""
        print(f"infra: no stack among {', '.join(stacks)} exports {name}{why}", file=err)
        return 2
    if len(holders) > 1:
        names = [s["stack"] for s in holders]
        print(
            f"infra: {name} is exported by {', '.join(names)}; name one: infra check {names[0]} --show-output {name}",
            file=err,
        )
        return 2
    value = holders[0]["outputs"][name]
    if value == SECRET:
        print(f"infra: {holders[0]['stack']}.{name} is a secret; its value is never printed", file=err)
    text = raw_value(value)
    out.write(text if text.endswith("\n") else text + "\n")
    return 0
