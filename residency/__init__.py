"""The single source of truth for where data may live.

Stdlib only: the Pulumi program, the policy pack (which runs as its own process from
``policies/``) and the audit all import this package, so it must never pull in Pulumi or
boto3. Jurisdictions, AWS regions, regulations, data classifications and tag keys are
written here once.
"""

from residency.catalogue import (
    CLASSIFICATIONS,
    JURISDICTIONS,
    ONPREM_ONLY_CLASSIFICATIONS,
    REQUIRED_TAG_KEYS,
    TAG_COST_CENTER,
    TAG_DATA_CLASSIFICATION,
    TAG_DATA_RESIDENCY,
    TAG_ENVIRONMENT,
    TAG_OWNER,
    Jurisdiction,
    Regulation,
    jurisdiction_for_region,
    residency_labels,
    residency_tags,
)

__all__ = [
    "CLASSIFICATIONS",
    "JURISDICTIONS",
    "ONPREM_ONLY_CLASSIFICATIONS",
    "REQUIRED_TAG_KEYS",
    "TAG_COST_CENTER",
    "TAG_DATA_CLASSIFICATION",
    "TAG_DATA_RESIDENCY",
    "TAG_ENVIRONMENT",
    "TAG_OWNER",
    "Jurisdiction",
    "Regulation",
    "jurisdiction_for_region",
    "residency_labels",
    "residency_tags",
]
