"""``--format markdown``: the record of processing (GDPR Art. 30, UAE PDPL): one row per store and per flow, plus
the Mermaid pictures, ready to paste into a review."""

from __future__ import annotations

from typing import Any

from infra.map.document import map_document
from infra.map.mermaid import render_mermaid
from infra.map.model import DataFlowMap

_WHERE = {
    "inside": "yes",
    "crosses": "**NO: crosses {a} -> {b}**",
    "link": "link only ({a} <-> {b}); no data flow rides it",
    "unplaced": "unknown: an end is not placed by the inventory",
}


def _cell(value: Any) -> str:
    text = "; ".join(value) if isinstance(value, list | tuple) else str(value)
    return (text or "not shown in the inventory").replace("|", "\\|").replace("\n", " ")


def _site(doc: dict[str, Any], end: str) -> str:
    site = next((s for s in doc["sites"] if s["id"] == end), None)
    return site["label"] if site else end.removeprefix("external:")


def render_record(flow_map: DataFlowMap) -> str:
    doc = map_document(flow_map)
    lines = ["# Record of processing: where data lives and how it moves", ""]
    lines.append(
        "Drawn from what the stacks register (the inventory `infra check` builds); articles from the controls "
        "catalogue (`residency/controls.py`) under each jurisdiction's law."
    )
    lines.append("")
    if doc["crossing"]:
        lines.append(
            f"❌ **{len(doc['crossing'])} flow(s) cross a jurisdiction boundary:** "
            + ", ".join(f"`{c}`" for c in doc["crossing"])
        )
    else:
        lines.append("✅ No flow crosses a jurisdiction boundary.")
    lines += ["", "## Sites", "", "| site | kind | jurisdiction | region |", "| --- | --- | --- | --- |"]
    for s in doc["sites"]:
        lines.append(f"| {_cell(s['label'])} | {s['kind']} | {s['jurisdiction']} | {s['region'] or 'on-prem'} |")
    lines += [
        "",
        "## Stores",
        "",
        "| store | kind | site | jurisdiction | data category | classification | articles | encryption | retention | who can read |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in doc["stores"]:
        lines.append(
            f"| `{_cell(s['name'])}` | {s['kind']} | {_cell(_site(doc, s['site']))} | {s['jurisdiction']} | {_cell(s['data_category'])} "
            f"| {s['classification']} | {_cell(s['articles'])} | {_cell(s['encryption'])} | {_cell(s['retention'])} | {_cell(s['readers'])} |"
        )
    lines += [
        "",
        "## Flows",
        "",
        "| flow | kind | from | to | what crosses | classification | protection | stays in jurisdiction | articles |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in doc["flows"]:
        where = _WHERE[f["boundary"]].format(a=f["source_jurisdiction"], b=f["target_jurisdiction"])
        lines.append(
            f"| `{_cell(f['id'])}` | {f['kind']} | {_cell(_site(doc, f['source']))} | {_cell(_site(doc, f['target']))} "
            f"| {_cell(f['label'])} | {f['classification']} | {_cell(f['protection'])} | {where} | {_cell(f['articles'])} |"
        )
    lines += [
        "",
        "## Models",
        "",
        "| model | served name | site | classification | GPUs |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m in doc["models"]:
        lines.append(
            f"| `{m['id']}` | {m['served_model_name']} | {_cell(_site(doc, m['site']))} | {m['classification']} | {m['gpus']} |"
        )
    lines += ["", render_mermaid(flow_map)]
    return "\n".join(lines)
