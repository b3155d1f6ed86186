"""Serve the ``data-residency`` pack; the Pulumi CLI (or ``infra check``) runs this with cwd = ``policies/``."""

import sys
from pathlib import Path

# The CLI starts the pack from this directory: make the project (``policies``, ``residency``) importable even
# when the virtualenv does not have the project installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies import PACK_NAME
from policies.rules import ALL_POLICIES
from policies.rules.sdk_cache import install

install()  # decode each request once, not once per policy (see sdk_cache)

PolicyPack(
    name=PACK_NAME,
    policies=ALL_POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Data residency (GDPR, UAE PDPL, CCPA) for the hybrid LLM platform: where data lives and how it is protected.",
    display_name="Data residency",
    provider="aws, kubernetes",
    tags=["data-residency", "GDPR", "UAE PDPL", "CCPA"],
)
