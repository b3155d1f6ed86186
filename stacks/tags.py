"""The residency tags of a stack, from its validated config."""

from residency import residency_tags
from stackconfig import StackConfig


def stack_tags(config: StackConfig) -> dict[str, str]:
    deployment = config.deployment
    return residency_tags(
        jurisdiction=deployment.jurisdiction,
        classification=config.classification,
        owner=deployment.owner,
        cost_center=deployment.cost_center,
        environment=deployment.environment,
    )
