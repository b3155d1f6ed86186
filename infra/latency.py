"""The latency-budget report of ``infra check``: per market, the sites that may serve it and whether it fits.

It reads the same validated config the stacks read (the project-level ``latency`` document and each checked
stack's models), so the numbers are the ones the config check enforced. A market with no site of its
jurisdiction for a data scope is reported unservable: nothing here ever looks outside the jurisdiction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from residency import ONPREM_ONLY_CLASSIFICATIONS
from residency.markets import FIBRE_KM_PER_MS, MARKETS, great_circle_km
from stackconfig.errors import ConfigError
from stackconfig.latency import LatencyConfig, routes, sites_of
from stackconfig.loader import parse_stack_config
from stackconfig.models import AwsStackConfig, StackConfig

SCOPES = (("non-restricted", False), ("restricted", True))


def served_models(config: StackConfig) -> list[tuple[str, bool]]:
    """(model name, restricted?) for every model the stack serves."""
    if isinstance(config, AwsStackConfig):
        return [(m.name, False) for m in config.inference]  # AWS refuses restricted models
    default = config.classification
    return [
        (m.name, (m.data_classification or default) in ONPREM_ONLY_CLASSIFICATIONS) for m in config.kubernetes.models
    ]


def named_stack_configs(raw_configs: Mapping[str, Mapping[str, str]]) -> dict[str, StackConfig]:
    """Stack name -> parsed config, for the stacks whose config is valid (the others report their own problems, and
    are left out)."""
    configs = {}
    for name, raw in raw_configs.items():
        try:
            configs[name] = parse_stack_config(raw)
        except ConfigError:
            continue
    return configs


def latency_section(configs: list[StackConfig]) -> dict[str, Any] | None:
    """The report as plain data (JSON as is; the terminal and Markdown renderers format it), or None."""
    if not configs:
        return None
    latency: LatencyConfig = configs[0].latency  # project-level: the same in every stack
    if not latency.markets:
        return None
    sites, _ = sites_of(latency)
    models_at: dict[str, list[tuple[str, bool]]] = {}
    for config in configs:
        models_at.setdefault(config.deployment.site, []).extend(served_models(config))
    markets = []
    for code, market_config in sorted(latency.markets.items()):
        market = MARKETS[code]
        budget = market_config.ttft_budget_ms
        scopes = []
        for scope, restricted in SCOPES:
            rows = []
            for route in routes(latency, market, sites, restricted):
                checked = route.site.name in models_at
                models = [
                    _model_row(name, latency.slos.for_model(name).ttft_p95_ms, route.floor_ms, budget)
                    for name, is_restricted in models_at.get(route.site.name, [])
                    if is_restricted == restricted
                ]
                rows.append(
                    {
                        "site": route.site.name,
                        "kind": route.site.kind,
                        "location": route.site.location.name,
                        "distanceKm": round(great_circle_km(market.location, route.site.location), 1),
                        "floorMs": round(route.floor_ms, 1),
                        "stackChecked": checked,
                        "models": models,
                    }
                )
            scopes.append(
                {
                    "scope": scope,
                    "servable": bool(rows),
                    "fits": _scope_fits(rows),
                    "routes": rows,
                    **(
                        {}
                        if rows
                        else {
                            "reason": f"no {'on-prem ' if restricted else ''}site in {market.jurisdiction}: "
                            "unservable, never routed to another jurisdiction"
                        }
                    ),
                }
            )
        markets.append(
            {
                "country": code,
                "name": market.name,
                "jurisdiction": market.jurisdiction,
                "reference": market.location.name,
                "ttftBudgetMs": budget,
                "scopes": scopes,
            }
        )
    return {
        "pathStretch": latency.path_stretch,
        "fibreKmPerMs": round(FIBRE_KM_PER_MS, 2),
        "floor": "2 x great-circle km / fibre km per ms x pathStretch",
        "markets": markets,
    }


def _model_row(name: str, ttft_ms: float, floor_ms: float, budget: float) -> dict[str, Any]:
    total = floor_ms + ttft_ms
    return {"model": name, "ttftSloMs": ttft_ms, "totalMs": round(total, 1), "fits": total <= budget}


def _scope_fits(rows: list[dict[str, Any]]) -> bool | None:
    """Every model of the scope reaches the market within budget from at least one site (None: no model)."""
    best: dict[str, bool] = {}
    for row in rows:
        for model in row["models"]:
            best[model["model"]] = best.get(model["model"], False) or model["fits"]
    return all(best.values()) if best else None
