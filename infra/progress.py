"""What ``infra check`` is doing, on stderr, so a longer run never looks hung and stdout stays the report."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import TextIO

from infra.engine import StackRun


class Progress:
    def __init__(self, stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        env = os.environ if env is None else env
        fancy = self.stream.isatty() and env.get("TERM") != "dumb"
        self.dots = "…" if fancy else "..."
        self._since = time.perf_counter()

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def begin(self, order: list[str]) -> None:
        self._say(f"infra: checking {', '.join(order)} under Pulumi's mock engine")

    def stack_done(self, run: StackRun) -> None:
        """``checking frankfurt… 189 resources, 0.8 s`` (and what stopped it, if anything did)."""
        trouble = ""
        if run.problems:
            trouble = f", {len(run.problems)} config problem{'s' if len(run.problems) != 1 else ''}"
        elif run.crash:
            trouble = ", program crashed"
        self._say(f"checking {run.stack}{self.dots} {len(run.resources)} resources, {run.seconds:.1f} s{trouble}")

    def policies_wait(self) -> None:
        self._since = time.perf_counter()
        self._say(f"policy pack{self.dots} finishing the analysis")

    def policies_done(self, stacks: int) -> None:
        self._say(f"policy pack{self.dots} {stacks} stack(s) analysed, {time.perf_counter() - self._since:.1f} s more")
