"""Latency config: the markets served and their budgets, site locations, per-model SLOs.

One project-level key (``hybrid-llm-infra:latency`` in Pulumi.yaml), because markets and sites span
stacks: every stack validates the same document, and a market no site of its jurisdiction can serve
within budget stops every stack before any resource is registered.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from residency import JURISDICTIONS
from residency.markets import (
    AWS_REGION_LOCATIONS,
    MARKETS,
    Location,
    Market,
    country_problem,
    jurisdiction_of_country,
    network_floor_ms,
)
from stackconfig.errors import Problem
from stackconfig.helm import HelmChartConfig
from stackconfig.oncall import OnCallConfig, oncall_problems
from stackconfig.types import PROJECT, DnsLabel

# The longest window of the multi-window burn-rate alerts (SRE workbook, ch. 5, "Multiwindow, Multi-Burn-Rate
# Alerts": 10 % of the budget in 3 days at burn rate 1). An SLO window shorter than it cannot hold that alert.
LONGEST_ALERT_WINDOW_DAYS = 3

KEY = f"{PROJECT}:latency"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class MarketConfig(_Model):
    ttft_budget_ms: float = Field(gt=0, description="Time to first token a user of this market may see, p95, in ms.")


class SiteLocationConfig(_Model):
    """Where a site is: an AWS region (its location comes from residency) or an on-prem site's country and place."""

    region: str | None = Field(default=None, description="AWS region of an AWS site (e.g. eu-central-1).")
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 country of an on-prem site.")
    city: str | None = Field(default=None, description="Name of the on-prem site's place (for reports).")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _one_kind(self) -> SiteLocationConfig:
        onprem = (self.country, self.latitude, self.longitude)
        if self.region is not None and any(v is not None for v in onprem):
            raise ValueError("give either region (AWS) or country, latitude and longitude (on-prem), not both")
        if self.region is None and any(v is None for v in onprem):
            raise ValueError("an on-prem site needs country, latitude and longitude (an AWS site: region)")
        return self


class SloConfig(_Model):
    ttft_p95_ms: float = Field(default=800, gt=0, description="Time to first token, p95, in ms.")
    itl_p95_ms: float = Field(default=100, gt=0, description="Inter-token latency, p95, in ms.")
    availability: float = Field(default=0.995, gt=0, lt=1, description="Target success ratio of requests.")
    window_days: int = Field(default=28, ge=1, description="The SLO window, in days.")


class SlosConfig(_Model):
    default: SloConfig = Field(default_factory=SloConfig, description="SLO of a model not listed in models.")
    models: dict[DnsLabel, SloConfig] = Field(default_factory=dict, description="SLO per model (its config name).")

    def for_model(self, name: str) -> SloConfig:
        return self.models.get(name, self.default)


# Chart version seen in public configs (the tag prometheus-blackbox-exporter-11.4.0); the blackbox module keys used
# (prober, timeout, http.method/headers/body/valid_status_codes) are those of blackbox_exporter's CONFIGURATION.md.
BLACKBOX_EXPORTER = ("https://prometheus-community.github.io/helm-charts", "prometheus-blackbox-exporter", "11.4.0")


class ProbesConfig(_Model):
    enabled: bool = Field(default=True, description="A synthetic probe per model (blackbox exporter + Probe).")
    chart: HelmChartConfig = Field(
        default_factory=lambda: HelmChartConfig(
            repository=BLACKBOX_EXPORTER[0], chart=BLACKBOX_EXPORTER[1], version=BLACKBOX_EXPORTER[2]
        )
    )
    interval: str = Field(default="60s", pattern=r"^[1-9]\d*[smh]$", description="How often each model is probed.")


class LatencyConfig(_Model):
    # Bozkurt et al., "Dissecting Latency in the Internet's Fiber Infrastructure" (2017): measurement campaigns
    # give the rule of thumb "line-of-sight distance x 2.1, divided by the speed of light in fibre".
    path_stretch: float = Field(
        default=2.1, ge=1, le=10, description="How much longer real routes are than the great circle."
    )
    sites: dict[DnsLabel, SiteLocationConfig] = Field(default_factory=dict, description="Location of each site.")
    markets: dict[str, MarketConfig] = Field(default_factory=dict, description="Markets served, by ISO country.")
    slos: SlosConfig = Field(default_factory=SlosConfig)
    on_call: OnCallConfig = Field(default_factory=OnCallConfig, description="Follow-the-sun on-call teams.")
    probes: ProbesConfig = Field(default_factory=ProbesConfig)


@dataclass(frozen=True)
class Site:
    name: str
    kind: str
    """aws | onprem"""
    jurisdiction: str | None
    location: Location


def sites_of(config: LatencyConfig) -> tuple[list[Site], list[Problem]]:
    """The configured sites with their jurisdiction and location, and what is wrong with them."""
    sites, problems = [], []
    for name, site in sorted(config.sites.items()):
        path = f"{KEY}.sites.{name}"
        if site.region is not None:
            location = AWS_REGION_LOCATIONS.get(site.region)
            if location is None:
                allowed = ", ".join(sorted(AWS_REGION_LOCATIONS))
                problems.append(Problem(f"{path}.region", f"{site.region!r} is no region of ours; allowed: {allowed}"))
                continue
            jurisdiction = next((j.id for j in JURISDICTIONS.values() if site.region in j.aws_regions), None)
            sites.append(Site(name, "aws", jurisdiction, location))
            continue
        assert site.country is not None and site.latitude is not None and site.longitude is not None
        problem = country_problem(site.country)
        if problem:
            problems.append(Problem(f"{path}.country", problem))
            continue
        place = Location(site.city or name, site.latitude, site.longitude)
        sites.append(Site(name, "onprem", jurisdiction_of_country(site.country), place))
    return sites, problems


@dataclass(frozen=True)
class Route:
    """One market reached from one site, for one data scope."""

    site: Site
    floor_ms: float


def eligible_sites(market: Market, sites: list[Site], restricted: bool) -> list[Site]:
    """Sites that may serve the market: same jurisdiction only; restricted data only on-prem."""
    return [s for s in sites if s.jurisdiction == market.jurisdiction and (s.kind == "onprem" or not restricted)]


def routes(config: LatencyConfig, market: Market, sites: list[Site], restricted: bool) -> list[Route]:
    found = [
        Route(s, network_floor_ms(market.location, s.location, config.path_stretch))
        for s in eligible_sites(market, sites, restricted)
    ]
    return sorted(found, key=lambda r: (r.floor_ms, r.site.name))


def worst_ttft_ms(config: LatencyConfig) -> float:
    """The slowest TTFT SLO any model may have (the default or a listed model's): a budget must hold for it."""
    return max([config.slos.default.ttft_p95_ms, *(s.ttft_p95_ms for s in config.slos.models.values())])


def latency_problems(config: LatencyConfig, site_names: set[str]) -> list[Problem]:
    """Bad markets, sites and SLOs; a served market whose budget no in-jurisdiction site meets."""
    problems: list[Problem] = []
    sites, site_problems = sites_of(config)
    problems += site_problems
    for name in sorted(site_names - set(config.sites)):
        problems.append(
            Problem(f"{KEY}.sites", f"site {name!r} has no location (sites: {', '.join(sorted(config.sites))})")
        )
    for model, slo in [("default", config.slos.default), *sorted(config.slos.models.items())]:
        path = f"{KEY}.slos.{'default' if model == 'default' else 'models.' + model}.windowDays"
        if slo.window_days < LONGEST_ALERT_WINDOW_DAYS:
            problems.append(
                Problem(
                    path,
                    f"{slo.window_days}d is shorter than the longest burn-rate alert window "
                    f"({LONGEST_ALERT_WINDOW_DAYS}d); allowed: >= {LONGEST_ALERT_WINDOW_DAYS}",
                )
            )
    worst = worst_ttft_ms(config)
    for code, market_config in sorted(config.markets.items()):
        problem = country_problem(code)
        if problem:
            problems.append(Problem(f"{KEY}.markets.{code}", problem))
            continue
        market = MARKETS[code]
        budget = market_config.ttft_budget_ms
        misses = []
        for restricted in (False, True):
            found = routes(config, market, sites, restricted)
            if not found:
                continue  # unservable: reported by infra check, never routed elsewhere
            best = found[0]
            if best.floor_ms + worst > budget:
                misses.append(
                    f"{'restricted' if restricted else 'non-restricted'} data: nearest {best.site.name} has a "
                    f"{best.floor_ms:.1f} ms network floor + {worst:g} ms TTFT SLO = {best.floor_ms + worst:.1f} ms"
                )
        if misses:
            problems.append(
                Problem(
                    f"{KEY}.markets.{code}.ttftBudgetMs",
                    f"{code} ({market.name}): no {market.jurisdiction} site meets {budget:g} ms; " + "; ".join(misses),
                )
            )
    return problems


def stack_latency_problems(
    latency: LatencyConfig, aws_sites: set[str], own_site: str, onprem: bool, aws_region: str | None
) -> list[Problem]:
    """The document checked from one stack: every AWS site of the address plan and this stack's own site need a
    location, and an AWS stack's site is located in the region it deploys to (aws_region: None when that region
    is already refused, or on-prem)."""
    problems = oncall_problems(f"{KEY}.onCall", latency.on_call)
    if not latency.markets and not latency.sites:
        return problems
    problems += latency_problems(latency, aws_sites | ({own_site} if onprem else set()))
    own = latency.sites.get(own_site)
    if aws_region is not None and own is not None and own.region != aws_region:
        problems.append(
            Problem(
                f"{KEY}.sites.{own_site}.region", f"{own.region!r} but this stack deploys to aws:region {aws_region}"
            )
        )
    return problems
