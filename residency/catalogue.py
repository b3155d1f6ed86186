"""Jurisdictions, regulations, classifications and the tag vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

TAG_DATA_RESIDENCY = "data-residency"
TAG_DATA_CLASSIFICATION = "data-classification"
TAG_OWNER = "owner"
TAG_COST_CENTER = "cost-center"
TAG_ENVIRONMENT = "environment"

# Order matters only for display: residency first, because it is what regulators ask about.
REQUIRED_TAG_KEYS: tuple[str, ...] = (
    TAG_DATA_RESIDENCY,
    TAG_DATA_CLASSIFICATION,
    TAG_OWNER,
    TAG_COST_CENTER,
    TAG_ENVIRONMENT,
)

# Ordered from least to most sensitive.
CLASSIFICATIONS: tuple[str, ...] = ("public", "internal", "confidential", "restricted")

# Restricted (personal, special-category) data never leaves the on-prem site.
ONPREM_ONLY_CLASSIFICATIONS: frozenset[str] = frozenset({"restricted"})


@dataclass(frozen=True)
class Regulation:
    """A law a jurisdiction enforces, with the articles the controls cite."""

    id: str
    title: str
    transfer_articles: str
    security_articles: str


@dataclass(frozen=True)
class Jurisdiction:
    """Where data may be stored and processed, and under which law."""

    id: str
    name: str
    regulation: Regulation
    aws_regions: frozenset[str]
    # The value of the data-residency tag for resources in this jurisdiction.
    residency_value: str
    extra_regulations: tuple[Regulation, ...] = field(default=())


GDPR = Regulation(
    id="GDPR",
    title="EU General Data Protection Regulation (EU) 2016/679",
    transfer_articles="Art. 44-46",
    security_articles="Art. 32",
)
UAE_PDPL = Regulation(
    id="UAE-PDPL",
    title="UAE Federal Decree-Law No. 45 of 2021 on the Protection of Personal Data (PDPL)",
    transfer_articles="Art. 22-23",
    security_articles="Art. 20",
)

JURISDICTIONS: Mapping[str, Jurisdiction] = MappingProxyType(
    {
        "EU": Jurisdiction(
            id="EU",
            name="European Union",
            regulation=GDPR,
            # AWS commercial regions inside the EU (EEA adequacy is a legal call we leave to counsel).
            aws_regions=frozenset(
                {
                    "eu-central-1",
                    "eu-central-2",
                    "eu-west-1",
                    "eu-west-3",
                    "eu-north-1",
                    "eu-south-1",
                    "eu-south-2",
                }
            ),
            residency_value="eu",
        ),
        "UAE": Jurisdiction(
            id="UAE",
            name="United Arab Emirates",
            regulation=UAE_PDPL,
            aws_regions=frozenset({"me-central-1"}),
            residency_value="uae",
        ),
    }
)


def jurisdiction_for_region(region: str) -> Jurisdiction | None:
    """The jurisdiction an AWS region belongs to, or None when it belongs to none of ours."""
    for jurisdiction in JURISDICTIONS.values():
        if region in jurisdiction.aws_regions:
            return jurisdiction
    return None


def residency_tags(
    *,
    jurisdiction: str,
    classification: str,
    owner: str,
    cost_center: str,
    environment: str,
) -> dict[str, str]:
    """The required tags, keyed by the shared vocabulary, for one stack."""
    if jurisdiction not in JURISDICTIONS:
        raise ValueError(f"unknown jurisdiction {jurisdiction!r}; allowed: {sorted(JURISDICTIONS)}")
    if classification not in CLASSIFICATIONS:
        raise ValueError(f"unknown data classification {classification!r}; allowed: {list(CLASSIFICATIONS)}")
    return {
        TAG_DATA_RESIDENCY: JURISDICTIONS[jurisdiction].residency_value,
        TAG_DATA_CLASSIFICATION: classification,
        TAG_OWNER: owner,
        TAG_COST_CENTER: cost_center,
        TAG_ENVIRONMENT: environment,
    }


def residency_labels(tags: Mapping[str, str]) -> dict[str, str]:
    """Kubernetes labels carrying the same vocabulary (label values are more restricted than tags)."""
    return {key: _label_value(value) for key, value in tags.items()}


def _label_value(value: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in value)[:63]
    return cleaned.strip("-_.")
