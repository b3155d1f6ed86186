"""The map as one document (what ``--format json`` prints): the model, with each store's and flow's articles of law
taken from the controls catalogue for the jurisdictions it touches, and the verdict."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from infra.map.model import DataFlowMap
from residency import JURISDICTIONS
from residency.controls import control


def articles(control_ids: tuple[str, ...], jurisdictions: tuple[str | None, ...]) -> list[str]:
    """Citations of these controls under the law of these jurisdictions (GDPR for EU, UAE PDPL for UAE), in order."""
    laws = {JURISDICTIONS[j].regulation.id for j in jurisdictions if j is not None and j in JURISDICTIONS}
    found: list[str] = []
    for control_id in control_ids:
        for citation in control(control_id).citations:
            if citation.framework.replace(" ", "-") in laws and str(citation) not in found:
                found.append(str(citation))
    return found


def map_document(flow_map: DataFlowMap) -> dict[str, Any]:
    site_jurisdiction = {s.id: s.jurisdiction for s in flow_map.sites}
    stores = [
        {
            **asdict(s),
            "jurisdiction": site_jurisdiction.get(s.site),
            "articles": articles(s.controls, (site_jurisdiction.get(s.site),)),
        }
        for s in flow_map.stores
    ]
    flows = [
        {**asdict(f), "articles": articles(f.controls, (f.source_jurisdiction, f.target_jurisdiction))}
        for f in flow_map.flows
    ]
    crossing = [f.id for f in flow_map.crossing]
    return {
        "sites": [asdict(s) for s in flow_map.sites],
        "clusters": [asdict(c) for c in flow_map.clusters],
        "capacity": [asdict(c) for c in flow_map.capacity],
        "models": [asdict(m) for m in flow_map.models],
        "stores": stores,
        "flows": flows,
        "components": {stack: [asdict(g) for g in groups] for stack, groups in flow_map.components.items()},
        "crossing": crossing,
        "status": "cross-border flow" if crossing else "every flow stays inside its jurisdiction",
    }
