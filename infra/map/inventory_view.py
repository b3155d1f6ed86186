"""Read helpers over one stack of the inventory ``infra check --format json`` prints (``infra.inventory``)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from residency import JURISDICTIONS, TAG_DATA_CLASSIFICATION, jurisdiction_for_region

Resource = dict[str, Any]

# Regional AWS hostnames: <anything>.<region>.amazonaws.com (ELB, S3, APS, logs, ...).
_AWS_REGION_HOST = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.amazonaws\.com\.?$")
_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]*):")


@dataclass(frozen=True)
class StackView:
    name: str
    resources: list[Resource]
    outputs: dict[str, Any]

    @classmethod
    def of(cls, stack: dict[str, Any]) -> StackView:
        return cls(stack["stack"], list(stack["resources"]), dict(stack.get("outputs") or {}))

    def of_type(self, *suffixes: str) -> Iterator[Resource]:
        """Resources whose type token ends with one of the suffixes (``":Bucket"``, ``"/v1:Deployment"``)."""
        return (r for r in self.resources if r["type"].endswith(suffixes))

    def by_urn(self, urn: str | None) -> Resource | None:
        return next((r for r in self.resources if r["urn"] == urn), None) if urn else None

    def children(self, urn: str) -> list[Resource]:
        return [r for r in self.resources if r.get("parent") == urn]

    @property
    def region(self) -> str | None:
        region = self.outputs.get("region")
        return region if isinstance(region, str) else None

    @property
    def jurisdiction(self) -> str:
        declared = self.outputs.get("jurisdiction")
        if isinstance(declared, str) and declared in JURISDICTIONS:
            return declared
        found = jurisdiction_for_region(self.region or "")
        return found.id if found else "unknown"

    @property
    def classification(self) -> str:
        """The stack's usual classification: the commonest value on its resources (tags, labels, default tags)."""
        seen = Counter(v for r in self.resources if (v := classification_of(r)))
        return seen.most_common(1)[0][0] if seen else "unknown"

    def classification_for(self, resource: Resource) -> str:
        return classification_of(resource) or self.classification


def classification_of(resource: Resource) -> str | None:
    inputs = resource.get("inputs") or {}
    for holder in (inputs.get("tags"), (inputs.get("metadata") or {}).get("labels"), inputs.get("defaultTags")):
        if isinstance(holder, dict):
            tags = holder.get("tags", holder) if "tags" in holder and isinstance(holder["tags"], dict) else holder
            value = tags.get(TAG_DATA_CLASSIFICATION)
            if isinstance(value, str):
                return value
    return None


def region_of_host(host: str) -> str | None:
    match = _AWS_REGION_HOST.search(host.strip().lower())
    return match.group(1) if match else None


def region_of_arn(arn: str) -> str | None:
    match = _ARN.match(arn or "")
    return match.group(1) or None if match else None


def policy_document(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return value if isinstance(value, dict) else {}


def statements(value: Any) -> list[dict[str, Any]]:
    found = policy_document(value).get("Statement") or []
    return [s for s in (found if isinstance(found, list) else [found]) if isinstance(s, dict)]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]
