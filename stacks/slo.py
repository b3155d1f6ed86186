"""The cluster's SLO rules from the validated latency config: one ModelSlo per served model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.helm_chart import HelmChart
from components.inference_service import PORT as MODEL_PORT
from components.oncall import TeamShift, alertmanager_config, alertmanager_secrets
from components.onprem_vpn_gateway import APP as VPN_GATEWAY_APP
from components.slo_rules import ModelSlo, SloRules, SloRulesArgs, VpnGatewayAlert
from components.synthetic_probes import ProbeTarget, SyntheticProbes, SyntheticProbesArgs
from stackconfig import AwsStackConfig, OnPremStackConfig
from stackconfig.onprem_front_door import FRONT_DOOR_NAMESPACE


def model_slos(config: AwsStackConfig | OnPremStackConfig) -> list[ModelSlo]:
    models = config.inference if isinstance(config, AwsStackConfig) else config.kubernetes.models
    slos = []
    for model in models:
        slo = config.latency.slos.for_model(model.name)
        slos.append(
            ModelSlo(
                served_name=model.served_model_name,
                ttft_p95_seconds=slo.ttft_p95_ms / 1000,
                itl_p95_seconds=slo.itl_p95_ms / 1000,
                availability=slo.availability,
                window_days=slo.window_days,
            )
        )
    return slos


def build_slo_rules(
    config: AwsStackConfig | OnPremStackConfig,
    labels: Mapping[str, str],
    depends_on: Sequence[pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> SloRules:
    gateway = None
    if isinstance(config, OnPremStackConfig):
        namespace = config.kubernetes.vpn_gateway_namespace
        if config.vpn_gateway.deploy and namespace:
            gateway = VpnGatewayAlert(namespace=namespace, daemon_set=VPN_GATEWAY_APP)
    return SloRules(
        f"{config.deployment.site}-slo",
        SloRulesArgs(
            namespace=config.metrics.namespace,
            models=model_slos(config),
            site=config.deployment.site,
            vpn_gateway=gateway,
            front_door_namespace=FRONT_DOOR_NAMESPACE if config.front_door is not None else None,
            labels=labels,
            depends_on=depends_on,
        ),
        opts=opts,
    )


def on_call_routing(config: AwsStackConfig | OnPremStackConfig) -> dict[str, Any]:
    """ClusterMetricsArgs keywords for the follow-the-sun Alertmanager config (none when no team is configured)."""
    teams = [
        TeamShift(
            name=team.name,
            time_zone=team.time_zone,
            ranges=tuple(team.ranges()),
            pager_url=team.pager_url,
            token_secret=team.pager_token_secret,
        )
        for team in config.latency.on_call.teams
    ]
    if not teams:
        return {}
    return {"alertmanager_config": alertmanager_config(teams), "alertmanager_secrets": alertmanager_secrets(teams)}


def build_synthetic_probes(
    config: AwsStackConfig | OnPremStackConfig,
    labels: Mapping[str, str],
    node_selector: Mapping[str, str],
    depends_on: Sequence[pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> SyntheticProbes | None:
    probes = config.latency.probes
    models = config.inference if isinstance(config, AwsStackConfig) else config.kubernetes.models
    if not probes.enabled or not models:
        return None
    return SyntheticProbes(
        f"{config.deployment.site}-probes",
        SyntheticProbesArgs(
            chart=HelmChart(probes.chart.repository, probes.chart.chart, probes.chart.version),
            namespace=config.metrics.namespace,
            targets=[ProbeTarget(m.name, m.namespace, m.served_model_name, MODEL_PORT) for m in models],
            interval=probes.interval,
            node_selector=node_selector,
            labels=labels,
            depends_on=depends_on,
        ),
        opts=opts,
    )
