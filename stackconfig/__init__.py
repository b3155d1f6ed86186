"""The stack's typed configuration, validated once before anything is registered."""

from stackconfig.errors import ConfigError, Problem
from stackconfig.loader import parse_stack_config
from stackconfig.models import PROJECT, AwsStackConfig, OnPremStackConfig, StackConfig

__all__ = [
    "PROJECT",
    "AwsStackConfig",
    "ConfigError",
    "OnPremStackConfig",
    "Problem",
    "StackConfig",
    "parse_stack_config",
]
