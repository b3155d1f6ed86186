"""In a production environment every container image the config can set must be pinned by digest.

A tag can be moved to other content after review; a digest cannot. The check names each config key holding an
image (``hybrid-llm-infra:kubernetes.models[0].image``) and runs with the other checks, before anything is
registered.
"""

from __future__ import annotations

from collections.abc import Iterator

from stackconfig.errors import Problem
from stackconfig.inference import InferenceServiceConfig, RegistrySource, has_digest
from stackconfig.models import AwsStackConfig, OnPremStackConfig, StackConfig
from stackconfig.types import PROJECT
from stackconfig.vpn import OnPremVpnGatewayConfig

PRODUCTION = "production"
"""The ``deployment.environment`` value that requires digests."""

UNPINNED_SHIPPED_DEFAULTS: frozenset[str] = frozenset(
    str(OnPremVpnGatewayConfig.model_fields[field].default) for field in ("image", "frr_image")
)
"""Shipped defaults with no digest anyone could verify offline, waived until the team lead decides: the strongSwan
gateway image and the FRR image next to it (no public record of either digest was found). A test fails once an
entry gains a digest (stale waiver), and shows that the shipped on-prem stack is refused without the waiver.
Remove an entry to enforce it."""


def _model_images(key: str, models: list[InferenceServiceConfig]) -> Iterator[tuple[str, str]]:
    for i, model in enumerate(models):
        yield f"{key}[{i}].image", model.image
        if isinstance(model.model_source, RegistrySource):
            yield f"{key}[{i}].modelSource.image", model.model_source.image


def configured_images(config: StackConfig) -> Iterator[tuple[str, str]]:
    """(key path, image) for every image reference this stack's config holds, defaults included."""
    if isinstance(config, OnPremStackConfig):
        yield from _model_images(f"{PROJECT}:kubernetes.models", list(config.kubernetes.models))
        yield f"{PROJECT}:vpnGateway.image", config.vpn_gateway.image
        yield f"{PROJECT}:vpnGateway.frrImage", config.vpn_gateway.frr_image
    elif isinstance(config, AwsStackConfig):
        yield from _model_images(f"{PROJECT}:inference", list(config.inference))


def production_image_problems(config: StackConfig) -> list[Problem]:
    if config.deployment.environment != PRODUCTION:
        return []
    return [
        Problem(
            path,
            f"{image} is not pinned by digest; deployment.environment is {PRODUCTION}: allowed: "
            "an image with a digest, e.g. repository:tag@sha256:<64 hex digits>",
        )
        for path, image in configured_images(config)
        if not has_digest(image) and image not in UNPINNED_SHIPPED_DEFAULTS
    ]


def waived_images(config: StackConfig) -> list[tuple[str, str]]:
    """(key path, image) of the production images let through only by ``UNPINNED_SHIPPED_DEFAULTS``."""
    if config.deployment.environment != PRODUCTION:
        return []
    return [(path, image) for path, image in configured_images(config) if image in UNPINNED_SHIPPED_DEFAULTS]
