"""The latency-budget section of the terminal report (infra.latency's data); called by the terminal report."""

from __future__ import annotations

from typing import Any

from infra.render.terminal.style import Style, fit_lines

PLAIN = {"✅": "[ok]", "❌": "[FAIL]", "⛔": "[none]", "·": "[-]"}


def render_latency(section: dict[str, Any] | None, style: Style | None = None) -> str:
    """``style`` (infra check's terminal report): ASCII where symbols are not wanted, lines fitted to its width."""
    if not section:
        return ""
    lines = [
        f"Latency budgets (network floor = 2 x great-circle km / {section['fibreKmPerMs']} km/ms "
        f"x path stretch {section['pathStretch']:g}):"
    ]
    for market in section["markets"]:
        lines.append(
            f"    {market['country']} {market['name']} ({market['jurisdiction']}, from {market['reference']}): "
            f"TTFT budget {market['ttftBudgetMs']:g} ms"
        )
        for scope in market["scopes"]:
            if not scope["servable"]:
                lines.append(f"        ⛔ {scope['scope']}: {scope['reason']}")
                continue
            icon = {True: "✅", False: "❌", None: "·"}[scope["fits"]]
            lines.append(f"        {icon} {scope['scope']}:")
            for route in scope["routes"]:
                where = f"{route['site']} ({route['kind']}, {route['location']}, {route['distanceKm']:g} km)"
                lines.append(f"            {where}: floor {route['floorMs']:g} ms")
                if not route["stackChecked"]:
                    lines.append("                (stack not in this check: its models are not listed)")
                elif not route["models"]:
                    lines.append("                (no model of this scope)")
                for model in route["models"]:
                    mark = "fits" if model["fits"] else "OVER BUDGET"
                    lines.append(
                        f"                {model['model']}: {route['floorMs']:g} + SLO {model['ttftSloMs']:g} "
                        f"= {model['totalMs']:g} ms  {mark}"
                    )
    if style is not None:
        lines = fit_lines(lines, style, PLAIN)
    return "\n".join(lines) + "\n"
