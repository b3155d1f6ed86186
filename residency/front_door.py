"""What a public front-door DNS name can answer: the ELB alias zones per region and Route 53's failover semantics.

Stdlib only: the stacks (to write alias records), the policy pack (to tell where an alias target lies) and the
tests (to enumerate every answer) read the same facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

# The canonical hosted zone of a region's Network Load Balancers (what an alias record to an NLB names).
# Source: AWS General Reference, "Elastic Load Balancing endpoints and quotas" (the same table external-dns and
# the AWS provider's aws_lb_hosted_zone_id carry). One zone per region: the zone tells the region of the target.
NLB_ALIAS_ZONES: Mapping[str, str] = {
    "eu-central-1": "Z3F0SRJ5LGBH90",
    "eu-west-1": "Z2IFOLAFXWLO4F",
    "eu-west-3": "Z1CMS0P5QUZ6D5",
    "eu-north-1": "Z1UDT6IFJ4EJM",
    "eu-south-1": "Z23146JA1KNAFP",
    "me-central-1": "Z00282643NTTLPANJJG2P",
    "me-south-1": "Z3QSRYVP46NYYV",
    "us-east-1": "Z26RNL4JYFTOTI",
}
# Alias zones of global services, whose answers are not tied to one region (AWS General Reference: CloudFront
# and Global Accelerator alias targets).
CLOUDFRONT_ALIAS_ZONE = "Z2FDTNDATAQYW2"
GLOBAL_ACCELERATOR_ALIAS_ZONE = "Z2BJ6XQ5FK7U4H"


def region_of_alias_zone(zone_id: str) -> str | None:
    """The region whose NLBs live in ``zone_id``, or None for any other zone."""
    return next((region for region, zone in NLB_ALIAS_ZONES.items() if zone == zone_id), None)


PUBLIC_ENTRY_NAMESPACE = "front-door"
"""The namespace of every site's gateway proxies and entry Service; no model may live in it (the config refuses it
as an inference namespace)."""
PUBLIC_ENTRY_LABEL = "hybrid-llm-infra.io/public-entry"
PUBLIC_ENTRY_VALUE = "front-door"
"""Marks the NetworkPolicy and Service of a site's public front-door entry, in PUBLIC_ENTRY_NAMESPACE only: sources
from the internet are its purpose, so the isolation control asks of them only that no AWS site's range is among
them. The label means nothing in any other namespace (a model's own policy cannot claim it)."""

Failover = Literal["PRIMARY", "SECONDARY"]


@dataclass(frozen=True)
class RecordSet:
    """One Route 53 record set of a name, as far as answering goes."""

    identifier: str
    target: str
    failover: Failover | None = None
    health_checked: bool = False
    """A health check or evaluate-target-health decides this record's health; without either it is always healthy."""


def failover_answer(records: Sequence[RecordSet], healthy: Mapping[str, bool]) -> str | None:
    """The target Route 53 answers for one name, given each record's health (by identifier).

    Route 53 Developer Guide, "Failover routing" and "How Amazon Route 53 chooses records when health checking is
    configured": a record without a health check (and without evaluate target health) is always healthy; the
    primary answers while it is healthy, else a healthy secondary; when the primary *and* the secondary are
    unhealthy, Route 53 answers with the primary (it treats every record as healthy when none is). A single
    simple (non-failover) record always answers. None: the name has no record (NXDOMAIN/NODATA).
    """
    if not records:
        return None
    simple = [r for r in records if r.failover is None]
    if simple:
        if len(records) != 1:
            raise ValueError("a name with a simple record has no other record of the same type")
        return simple[0].target
    primary = [r for r in records if r.failover == "PRIMARY"]
    secondary = [r for r in records if r.failover == "SECONDARY"]
    if len(primary) > 1 or len(secondary) > 1:
        raise ValueError("a failover name has at most one primary and one secondary record")

    def ok(record: RecordSet) -> bool:
        return not record.health_checked or healthy[record.identifier]

    if primary and ok(primary[0]):
        return primary[0].target
    if secondary and ok(secondary[0]):
        return secondary[0].target
    # Everything unhealthy: Route 53 answers as if all were healthy, i.e. the primary (or the lone secondary).
    return (primary or secondary)[0].target
