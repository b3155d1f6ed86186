"""The rule every test that needs a real engine (root, network namespaces, promtool, amtool, dot, FRR) follows:
skip on a developer machine that lacks it, fail under ``CI=true``, where ``.ci/run`` installs it on purpose and a
skip would hide a test that never ran."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def unavailable(what: str, reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} unavailable in CI: {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


def require_tool(command: str, package: str) -> str:
    """The path of a Debian oracle's ``command``."""
    path = shutil.which(command)
    if path is None:
        unavailable(command, f"not found (apt-get install {package}; .ci/run installs it)")
    return path
