"""hybrid-llm-infra: validate the stack's config once, build this stack, export its outputs."""

import pulumi

from stackconfig import AwsStackConfig
from stackconfig.images import waived_images
from stackconfig.pulumi_source import load_stack_config
from stacks.aws_region import build_aws_stack
from stacks.onprem import build_onprem_stack

config = load_stack_config()
for path, image in waived_images(config):
    # Visible on every preview and up until someone with registry access pins it (README, "Deploying for real").
    pulumi.log.warn(f"{path}: {image} is not pinned by digest (waived shipped default); pin it as repo:tag@sha256:...")
outputs = build_aws_stack(config) if isinstance(config, AwsStackConfig) else build_onprem_stack(config)
for key, value in outputs.items():
    pulumi.export(key, value)
