"""SLO recording rules and alerts for one cluster, as a Prometheus Operator PrometheusRule.

What vLLM 0.11 exports (vllm/v1/metrics/loggers.py at v0.11.0, labels ``model_name`` and ``engine``):
``vllm:time_to_first_token_seconds`` and ``vllm:inter_token_latency_seconds`` histograms (the latter replaces
``vllm:time_per_output_token_seconds``, "Deprecated in 0.11", observed from the same values), and the counter
``vllm:request_success_total`` with ``finished_reason`` (``stop``, ``length``, ``abort``: vLLM counts every
finished request there, so the success ratio is stop+length over all; an aborted request spent budget).

Availability alerts are the SRE workbook's multiwindow, multi-burn-rate alerts (ch. 5, "Alerting on SLOs",
recommended parameters): page on 2 % of the error budget spent in 1 h (checked over 5 m too) or 5 % in 6 h
(and 30 m); ticket on 10 % in 3 d (and 6 h). Burn-rate factors follow from the SLO window (14.4/6/1 for 30 d).
Latency alerts compare the recorded p95 with the SLO, sustained for 10 minutes.

GPU alerts read dcgm-exporter: ``DCGM_FI_DEV_XID_ERRORS`` (the value of the last XID error) and
``DCGM_FI_DEV_THERMAL_VIOLATION`` (NVML's thermal violation time, a counter in ns), both in the counters CSV every
cluster's exporter is given (components/dcgm_counters.py; the thermal one is not in dcgm-exporter's defaults,
tests/test_dcgm_counters.py checks every DCGM metric a rule reads is exported). The on-prem VPN gateway alert
reads kube-state-metrics for the gateway DaemonSet, whose readiness probe asks charon over vici
(components/onprem_vpn_gateway.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.dcgm_counters import THERMAL_VIOLATION, XID_ERRORS

TYPE_TOKEN = "hybrid-llm-infra:metrics:SloRules"

TTFT = "vllm:time_to_first_token_seconds"
ITL = "vllm:inter_token_latency_seconds"
REQUESTS = "vllm:request_success_total"
GOOD_REASONS = "stop|length"

# (name, severity, [(long window, short window, share of the budget spent over the long window)])
BURN_ALERTS: tuple[tuple[str, str, tuple[tuple[str, str, float], ...]], ...] = (
    ("VllmErrorBudgetFastBurn", "critical", (("1h", "5m", 0.02), ("6h", "30m", 0.05))),
    ("VllmErrorBudgetSlowBurn", "warning", (("3d", "6h", 0.10),)),
)
WINDOWS = ("5m", "30m", "1h", "6h", "3d")
LATENCY_FOR = "10m"
_HOURS = {"m": 1 / 60, "h": 1.0, "d": 24.0}


@dataclass(frozen=True)
class ModelSlo:
    served_name: str
    """vLLM's model_name label (the served model name)."""
    ttft_p95_seconds: float
    itl_p95_seconds: float
    availability: float
    window_days: int


@dataclass(frozen=True)
class VpnGatewayAlert:
    namespace: str
    daemon_set: str


@dataclass(frozen=True)
class SloRulesArgs:
    namespace: str
    """The metrics namespace (the cluster's Prometheus selects rules in every namespace)."""
    models: Sequence[ModelSlo]
    site: str
    """Added to every alert as the ``site`` label, so Alertmanager and the on-call know where it fired."""
    vpn_gateway: VpnGatewayAlert | None = None
    front_door_namespace: str | None = None
    """The gateway's namespace where the stack has a front door (its listener certificates are watched)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()
    """The release that installs the PrometheusRule CRD (kube-prometheus-stack)."""


def hours(window: str) -> float:
    return float(window[:-1]) * _HOURS[window[-1]]


def burn_factor(budget_share: float, long_window: str, window_days: int) -> float:
    """How many times faster than sustainable the budget burns when ``budget_share`` goes in ``long_window``."""
    return budget_share * window_days * 24 / hours(long_window)


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def recording_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for metric, short in ((TTFT, "time_to_first_token_seconds"), (ITL, "inter_token_latency_seconds")):
        rules.append(
            {
                "record": f"model_name:vllm_{short}:p95_5m",
                "expr": f"histogram_quantile(0.95, sum by (model_name, le) (rate({metric}_bucket[5m])))",
            }
        )
    for window in WINDOWS:
        rules.append(
            {
                "record": f"model_name:vllm_request_success:ratio_rate{window}",
                "expr": f'sum by (model_name) (rate({REQUESTS}{{finished_reason=~"{GOOD_REASONS}"}}[{window}]))\n'
                f"/\nsum by (model_name) (rate({REQUESTS}[{window}]))",
            }
        )
    return rules


def model_alerts(model: ModelSlo, site: str) -> list[dict[str, Any]]:
    sel = f'{{model_name="{_q(model.served_name)}"}}'
    budget = 1 - model.availability
    labels = {"site": site}
    alerts: list[dict[str, Any]] = []
    for name, severity, pairs in BURN_ALERTS:
        clauses = []
        for long, short, share in pairs:
            limit = f"{burn_factor(share, long, model.window_days) * budget:.6g}"
            clauses.append(
                f"(1 - model_name:vllm_request_success:ratio_rate{long}{sel}) > {limit}\n"
                f"and\n(1 - model_name:vllm_request_success:ratio_rate{short}{sel}) > {limit}"
            )
        alerts.append(
            {
                "alert": name,
                "expr": "\nor\n".join(f"(\n{c}\n)" for c in clauses),
                "labels": {**labels, "severity": severity, "slo": "availability"},
                "annotations": {
                    "summary": f"{model.served_name} is spending its error budget too fast",
                    "description": f"Availability SLO {model.availability:g} over {model.window_days}d: "
                    "error ratio {{ $value | humanizePercentage }} over the long window (the short window agrees).",
                },
            }
        )
    for alert, record, target, what in (
        ("VllmTimeToFirstTokenP95AboveSLO", "time_to_first_token_seconds", model.ttft_p95_seconds, "TTFT"),
        ("VllmInterTokenLatencyP95AboveSLO", "inter_token_latency_seconds", model.itl_p95_seconds, "ITL"),
    ):
        alerts.append(
            {
                "alert": alert,
                "expr": f"model_name:vllm_{record}:p95_5m{sel} > {target:g}",
                "for": LATENCY_FOR,
                "labels": {**labels, "severity": "warning", "slo": what.lower()},
                "annotations": {
                    "summary": f"{model.served_name}: {what} p95 above its SLO of {target * 1000:g} ms",
                    "description": f"{what} p95 is {{{{ $value | humanizeDuration }}}} (SLO {target * 1000:g} ms).",
                },
            }
        )
    # The synthetic probe (components/synthetic_probes.py) answers even when no user traffic flows.
    alerts += [
        {
            "alert": "SyntheticProbeFailing",
            "expr": f"probe_success{sel} == 0",
            "for": "5m",
            "labels": {**labels, "severity": "critical", "slo": "availability"},
            "annotations": {
                "summary": f"{model.served_name} does not answer its synthetic probe",
                "description": "The one-token completion has failed for 5 minutes ({{ $labels.instance }}).",
            },
        },
        {
            "alert": "SyntheticProbeTimeToFirstTokenAboveSLO",
            "expr": f"quantile_over_time(0.95, probe_duration_seconds{sel}[30m]) > {model.ttft_p95_seconds:g}",
            "for": "5m",
            "labels": {**labels, "severity": "warning", "slo": "ttft"},
            "annotations": {
                "summary": f"{model.served_name}: probed TTFT p95 above its SLO of {model.ttft_p95_seconds * 1000:g} ms",
                "description": "p95 of the probe's one-token completion over 30 m is {{ $value | humanizeDuration }}.",
            },
        },
    ]
    return alerts


def gpu_alerts(site: str) -> list[dict[str, Any]]:
    return [
        {
            "alert": "GpuXidError",
            "expr": f"{XID_ERRORS} > 0",
            "labels": {"site": site, "severity": "critical"},
            "annotations": {
                "summary": "GPU {{ $labels.gpu }} on {{ or $labels.hostname $labels.Hostname }} reported XID {{ $value }}",
                "description": "See NVIDIA's XID catalogue; most XIDs need the GPU drained and reset.",
            },
        },
        {
            "alert": "GpuThermalThrottling",
            # Share of the last 5 minutes the GPU was held below its clocks for thermal reasons (ns per second / 1e9).
            "expr": f"rate({THERMAL_VIOLATION}[5m]) / 1e9 > 0",
            "for": "5m",
            "labels": {"site": site, "severity": "warning"},
            "annotations": {
                # dcgm-exporter after 4.8.2 spells the label hostname (#655); the operator's 4.3.1-4.4.0 Hostname.
                "summary": "GPU {{ $labels.gpu }} on {{ or $labels.hostname $labels.Hostname }} is thermally throttled",
                "description": "Throttled for thermal reasons {{ $value | humanizePercentage }} of the time, "
                "for 5 minutes: latency SLOs will suffer.",
            },
        },
    ]


def vpn_gateway_alerts(gateway: VpnGatewayAlert, site: str) -> list[dict[str, Any]]:
    sel = f'{{namespace="{_q(gateway.namespace)}", daemonset="{_q(gateway.daemon_set)}"}}'
    return [
        {
            "alert": "VpnGatewayDown",
            "expr": f"kube_daemonset_status_number_ready{sel} < kube_daemonset_status_desired_number_scheduled{sel}",
            "for": "2m",
            "labels": {"site": site, "severity": "critical"},
            "annotations": {
                "summary": "The on-prem VPN gateway is not ready on every edge node",
                "description": "{{ $value }} gateway pods ready; charon does not answer over vici on the others, "
                "so their tunnels to AWS are down.",
            },
        }
    ]


LISTENER_CERT_EXPIRY = '{__name__=~"envoy_listener_.*ssl_certificate_.*expiration_unix_time_seconds"'
"""Envoy's per-certificate gauge of each listener's TLS context, ``listener.<address>.ssl.certificate.<name>.
expiration_unix_time_seconds``, as Prometheus gets it from the proxies' stats port: with the certificate name as a
tag or inside the name, hence the name pattern. Listener scope only: the server-wide
``days_until_first_cert_expiring`` also counts the xDS CA and the first CA of the system bundle the JWKS fetch
trusts, which nobody here renews."""


def front_door_alerts(namespace: str, site: str) -> list[dict[str, Any]]:
    """Listener certificates about to lapse: Envoy Gateway drops a listener whose certificate has expired, and
    nothing renews the generated one by itself (pulumi/pulumi-tls#39), so people are told in time."""
    expiry = LISTENER_CERT_EXPIRY + f', namespace="{_q(namespace)}"}}'
    left = f"min by (namespace, pod) ({expiry}) - time()"
    how = (
        "AWS: re-issue the generated certificate with `pulumi up --replace` on its SelfSignedCert "
        "(README, The front door); on-prem: the site's PKI renews frontDoor.certificate."
    )
    return [
        {
            "alert": "FrontDoorCertificateExpiring",
            "expr": f"{left} < 30 * 86400",
            "for": "1h",
            "labels": {"site": site, "severity": "warning"},
            "annotations": {
                "summary": "A front-door certificate on {{ $labels.pod }} expires in {{ $value | humanizeDuration }}",
                "description": how,
            },
        },
        {
            "alert": "FrontDoorCertificateExpiringSoon",
            "expr": f"{left} < 7 * 86400",
            "for": "10m",
            "labels": {"site": site, "severity": "critical"},
            "annotations": {
                "summary": "A front-door certificate on {{ $labels.pod }} expires in {{ $value | humanizeDuration }}",
                "description": "Once it expires Envoy Gateway drops the listener and the front door refuses every "
                "request. " + how,
            },
        },
        {
            "alert": "FrontDoorCertificatesUnwatched",
            "expr": f"absent({expiry})",
            "for": "30m",
            "labels": {"site": site, "severity": "warning"},
            "annotations": {
                "summary": "No front-door proxy reports a listener certificate",
                "description": "Prometheus scrapes no gateway proxy (PodMonitor front-door-proxies), or no listener "
                "holds a certificate (its Secret missing or refused): the front door may not be serving TLS.",
            },
        },
    ]


def rule_groups(args: SloRulesArgs) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [{"name": "vllm-slo-records", "rules": recording_rules()}]
    for model in args.models:
        groups.append({"name": f"vllm-slo-{model.served_name}", "rules": model_alerts(model, args.site)})
    groups.append({"name": "gpu", "rules": gpu_alerts(args.site)})
    if args.vpn_gateway is not None:
        groups.append({"name": "vpn-gateway", "rules": vpn_gateway_alerts(args.vpn_gateway, args.site)})
    if args.front_door_namespace is not None:
        groups.append({"name": "front-door", "rules": front_door_alerts(args.front_door_namespace, args.site)})
    return groups


class SloRules(pulumi.ComponentResource):
    rule: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: SloRulesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.rule = k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="slo-rules", namespace=args.namespace, labels=dict(args.labels)),
            spec={"groups": rule_groups(args)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({})
