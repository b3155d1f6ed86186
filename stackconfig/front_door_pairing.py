"""Checks across stacks: a jurisdiction's hostname fails over to a site whose own stack must be ready to answer it.

One stack's config cannot see another's, and ``pulumi up`` runs one stack; ``infra check`` runs them all and adds
these problems to the on-prem stack's (its exit status then fails CI's preview). What would go wrong otherwise: the
AWS stack points its hostname's SECONDARY record at the site, the site's gateway presents a certificate without that
name, and clients fail TLS exactly when the region is down (or the site has no entry at all).
"""

from __future__ import annotations

from collections.abc import Iterable

from stackconfig.errors import Problem
from stackconfig.models import AwsStackConfig, OnPremStackConfig, StackConfig
from stackconfig.types import PROJECT

KEY = f"{PROJECT}:frontDoor"


def front_door_pairing_problems(configs: Iterable[tuple[str, StackConfig]]) -> dict[str, list[Problem]]:
    """Stack name -> problems, for each on-prem stack an AWS stack's ``frontDoor.secondary`` names by its site."""
    named = list(configs)
    sites = {c.deployment.site: (stack, c) for stack, c in named if isinstance(c, OnPremStackConfig)}
    out: dict[str, list[Problem]] = {}
    for aws_stack, config in named:
        if not isinstance(config, AwsStackConfig) or config.front_door is None:
            continue
        secondary = config.front_door.secondary
        if secondary is None or secondary.site not in sites:
            continue  # a site no stack of this project declares: its entry is managed elsewhere
        stack, site = sites[secondary.site]
        if site.deployment.jurisdiction != config.deployment.jurisdiction:
            out.setdefault(aws_stack, []).append(
                Problem(
                    f"{KEY}.secondary.site",
                    f"{secondary.site} is the site of stack {stack}, which is in {site.deployment.jurisdiction} "
                    f"(deployment.jurisdiction); a {config.deployment.jurisdiction} hostname fails over only inside "
                    f"{config.deployment.jurisdiction}",
                )
            )
            continue
        door = site.front_door
        if door is None:
            out.setdefault(stack, []).append(
                Problem(
                    KEY,
                    f"required: {aws_stack} fails {config.front_door.hostname} over to this site "
                    f"({aws_stack}'s frontDoor.secondary), which has no front door to answer it",
                )
            )
            continue
        wanted = [config.front_door.hostname, *([secondary.hostname] if secondary.hostname else [])]
        missing = [name for name in wanted if name not in door.hostnames]
        if missing:
            out.setdefault(stack, []).append(
                Problem(
                    f"{KEY}.hostnames",
                    f"lacks {', '.join(missing)}: {aws_stack}'s frontDoor sends it to this site, whose certificate "
                    "must cover it",
                )
            )
    return out
