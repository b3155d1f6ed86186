"""The ``infra`` command's entry point: process-wide settings first, then the CLI's imports."""

from __future__ import annotations

import gc
import os
import sys


def entrypoint() -> None:
    # A check is one short-lived process: the SDKs load hundreds of thousands of objects that every
    # cyclic-GC pass walks again (about a fifth of a check's time, `make bench`). Reference counting still
    # frees what is not in a cycle, the engine collects a stack run's cycles before the next run in the same
    # process (infra/engine.py), and the process ends with the command. Disabled before the CLI's imports,
    # which are where most of those objects are made.
    gc.disable()
    from infra.cli import main

    code = main()
    # By now every report is written, the pack process and the stack workers are gone and temporary
    # worktrees are removed (all of it inside main). What is left is tearing the interpreter's heap down
    # object by object, which took 0.7 s after a check of the three stacks, longer than any one stack's run.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
