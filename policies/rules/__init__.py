"""The pack's policies, one per control of ``residency.controls`` (importing this registers them all)."""

from __future__ import annotations

from typing import Any

from policies.rules import (  # noqa: F401  (each module registers its policies)
    aws,
    front_door,
    isolation,
    karpenter,
    kubernetes,
    metrics,
    residency_rules,
)
from policies.rules.base import registered_policies
from policies.rules.exemptions import EXEMPTION_POLICY

ALL_POLICIES: list[Any] = [*registered_policies(), EXEMPTION_POLICY]

__all__ = ["ALL_POLICIES"]
