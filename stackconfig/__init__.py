"""The stack's typed configuration, validated once before anything is registered."""

from stackconfig.errors import ConfigError, Problem
from stackconfig.loader import parse_stack_config
from stackconfig.models import AwsStackConfig, OnPremStackConfig, StackConfig
from stackconfig.types import PROJECT

__all__ = [
    "PROJECT",
    "AwsStackConfig",
    "ConfigError",
    "OnPremStackConfig",
    "Problem",
    "StackConfig",
    "parse_stack_config",
]
