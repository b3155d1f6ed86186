"""Where the running Pulumi program's config comes from."""

from __future__ import annotations

from pulumi.runtime import config as runtime_config

from stackconfig.loader import parse_stack_config
from stackconfig.models import StackConfig


def raw_config() -> dict[str, str]:
    """All config the engine handed this program (explicitly set keys win over PULUMI_CONFIG)."""
    merged: dict[str, str] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def load_stack_config() -> StackConfig:
    return parse_stack_config(raw_config())
