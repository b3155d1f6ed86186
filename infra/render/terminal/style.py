"""How a terminal report may look where it is going: colour, symbols, width; and fitting text into that width."""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

PIPE_WIDTH = 100
"""Columns when the report does not go to a terminal (a file, a pipe, CI logs)."""
MIN_WIDTH = 40
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_VS16 = "\ufe0f"  # emoji presentation selector: the symbol before it takes two columns


@dataclass(frozen=True)
class Style:
    fancy: bool
    """Colour and symbols (✅, tree lines, …); otherwise plain ASCII and no escape codes."""
    width: int = PIPE_WIDTH

    @classmethod
    def detect(cls, stream: TextIO | None, env: Mapping[str, str] | None = None) -> Style:
        """Fancy only on a terminal with ``NO_COLOR`` unset or empty (no-color.org) and ``TERM`` not ``dumb``."""
        env = os.environ if env is None else env
        tty = stream is not None and stream.isatty()
        fancy = tty and not env.get("NO_COLOR") and env.get("TERM") != "dumb"
        width = PIPE_WIDTH
        if tty and stream is not None:
            try:
                width = os.get_terminal_size(stream.fileno()).columns
            except OSError:
                width = shutil.get_terminal_size((PIPE_WIDTH, 24)).columns
        return cls(fancy=fancy, width=max(MIN_WIDTH, width))

    @property
    def ellipsis(self) -> str:
        return "…" if self.fancy else "..."

    def paint(self, text: str, code: str) -> str:
        """SGR ``code`` (e.g. ``"1"`` bold, ``"2"`` dim, ``"31"`` red) around ``text`` when fancy."""
        return f"\x1b[{code}m{text}\x1b[0m" if self.fancy and text else text


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def char_width(ch: str) -> int:
    if unicodedata.combining(ch) or ch in ("\u200d", _VS16):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (escape codes take none; wide and emoji-presentation symbols two)."""
    total, prev = 0, 0
    for ch in strip_ansi(text):
        if ch == _VS16 and prev == 1:
            total += 1  # ⚠️ = U+26A0 (narrow) + VS16: terminals draw it two columns wide
        w = char_width(ch)
        total += w
        prev = w if w else prev
    return total


def truncate_middle(text: str, width: int, ellipsis: str = "...") -> str:
    """``text`` in at most ``width`` columns: its start and its end kept, the middle replaced by ``ellipsis``."""
    if display_width(text) <= width:
        return text
    room = width - display_width(ellipsis)
    if room <= 0:
        return ellipsis[: max(width, 0)]
    head_room, tail_room = (room + 1) // 2, room // 2
    head, used = "", 0
    for ch in text:
        if used + char_width(ch) > head_room:
            break
        head, used = head + ch, used + char_width(ch)
    tail, used = "", 0
    for ch in reversed(text):
        if used + char_width(ch) > tail_room:
            break
        tail, used = ch + tail, used + char_width(ch)
    return head + ellipsis + tail


def fit_lines(lines: list[str], style: Style, plain_symbols: dict[str, str]) -> list[str]:
    """Another section's lines for ``style``: symbols spelled out in ASCII unless fancy, over-wide lines wrapped
    under their own indent (for prose sections; names in tables are cut with :func:`truncate_middle` instead)."""
    import textwrap

    out = []
    for line in lines:
        if not style.fancy:
            for symbol, plain in plain_symbols.items():
                line = line.replace(symbol, plain)
        if display_width(line) <= style.width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")))
        room = style.width - max(display_width(line) - len(line), 0)  # columns wide symbols take beyond one
        out.extend(textwrap.wrap(line.strip(), width=room, initial_indent=indent, subsequent_indent=indent + "  "))
    return out
