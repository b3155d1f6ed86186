"""The latency-budget section of the Markdown report (infra.latency's data)."""

from __future__ import annotations

from typing import Any


def render_latency_markdown(section: dict[str, Any] | None) -> str:
    if not section:
        return ""
    lines = [
        "## Latency budgets per market",
        "",
        f"Network floor = 2 x great-circle distance / {section['fibreKmPerMs']} km/ms (light in fibre) "
        f"x path stretch {section['pathStretch']:g}. Only sites of the market's jurisdiction are considered.",
        "",
        "| market | scope | site | distance (km) | floor (ms) | model | TTFT SLO p95 (ms) | floor + SLO (ms) | budget (ms) | |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for market in section["markets"]:
        name = f"{market['country']} {market['name']} ({market['jurisdiction']})"
        budget = f"{market['ttftBudgetMs']:g}"
        for scope in market["scopes"]:
            if not scope["servable"]:
                lines.append(f"| {name} | {scope['scope']} | — | | | | | | {budget} | ⛔ {scope['reason']} |")
                continue
            for route in scope["routes"]:
                cells = f"| {name} | {scope['scope']} | {route['site']} ({route['kind']}) | {route['distanceKm']:g} | {route['floorMs']:g}"
                if not route["models"]:
                    note = "stack not checked" if not route["stackChecked"] else "no model of this scope"
                    lines.append(f"{cells} | — | | | {budget} | {note} |")
                for model in route["models"]:
                    verdict = "✅ fits" if model["fits"] else "❌ over budget"
                    lines.append(
                        f"{cells} | `{model['model']}` | {model['ttftSloMs']:g} | {model['totalMs']:g} | {budget} | {verdict} |"
                    )
    return "\n".join(lines) + "\n\n"
