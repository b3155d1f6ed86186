"""hybrid-llm-infra: validate the stack's config once, build this stack, export its outputs."""

import pulumi

from stackconfig import AwsStackConfig
from stackconfig.pulumi_source import load_stack_config
from stacks.aws_region import build_aws_stack
from stacks.onprem import build_onprem_stack

config = load_stack_config()
outputs = build_aws_stack(config) if isinstance(config, AwsStackConfig) else build_onprem_stack(config)
for key, value in outputs.items():
    pulumi.export(key, value)
