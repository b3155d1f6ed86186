"""A pinned Helm chart whose repository can be an internal mirror (HTTPS chart repository or OCI registry).

`pulumi preview` renders a ``helm.v3.Release``'s chart, so the runner must reach the chart's repository
already at preview time; an organisation whose runners have no internet egress points ``repository`` at its
mirror (README, "Deploying for real", lists what each stack must reach).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

REPOSITORY_PATTERN = r"^(https://[^\s/]+(/\S*)?|oci://[^\s/]+(/\S*)?)$"
EXACT_VERSION_PATTERN = r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"


class HelmChartConfig(BaseModel):
    """Where a chart comes from and which exact version (defaults are set by the model that uses it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)

    repository: str = Field(
        pattern=REPOSITORY_PATTERN,
        description="https:// chart repository or oci:// registry path (an internal mirror works the same way).",
    )
    chart: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Chart name.")
    version: str = Field(pattern=EXACT_VERSION_PATTERN, description="Exact chart version (no ranges).")
