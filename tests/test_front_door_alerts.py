"""The front door's certificate alerts under the real ``promtool``, on the rules the shipped stacks register, and
the scrape that feeds them: Envoy's ``server.days_until_first_cert_expiring`` from the gateway proxies' stats port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.cluster_metrics import PROMETHEUS_POD_LABELS
from stacks.front_door import GATEWAY_SELECTOR, NAMESPACE
from tests.test_front_door_gateway import _stack, admitted
from tests.test_slo_rules import run_promtool, shipped_groups

STACKS = ["frankfurt", "dubai", "onprem"]
SITE = {"frankfurt": "frankfurt", "dubai": "dubai", "onprem": "onprem"}
HOW = (
    "AWS: re-issue the generated certificate with `pulumi up --replace` on its SelfSignedCert "
    "(README, The front door); on-prem: the site's PKI renews frontDoor.certificate."
)
DAY = 86400
TAGGED = "envoy_listener_ssl_certificate_expiration_unix_time_seconds"


def listener_cert(pod: str, expires_in_days: int, *, tagged: bool = True, minutes: int = 90) -> dict[str, str]:
    """Envoy's per-certificate listener gauge as Prometheus stores it from a PodMonitor scrape (namespace and pod
    added): with the certificate name as a tag, or (no tag extractor) inside the metric's name."""
    labels = f'namespace="front-door",pod="{pod}",container="envoy"'
    if tagged:
        series = f'{TAGGED}{{envoy_listener_address="0.0.0.0_10443",envoy_tls_certificate="front-door-tls",{labels}}}'
    else:
        series = f"envoy_listener_0_0_0_0_10443_ssl_certificate_front_door_tls_expiration_unix_time_seconds{{{labels}}}"
    # promtool starts the clock at 0: the expiry is that many days after the start.
    return {"series": series, "values": f"{expires_in_days * DAY}x{minutes}"}


def expiring(stack: str, pod: str, left: str, severity: str, soon: bool) -> dict[str, Any]:
    description = HOW
    if soon:
        description = (
            "Once it expires Envoy Gateway drops the listener and the front door refuses every request. " + HOW
        )
    return {
        "exp_labels": {"namespace": "front-door", "pod": pod, "site": SITE[stack], "severity": severity},
        "exp_annotations": {
            "summary": f"A front-door certificate on {pod} expires in {left}",
            "description": description,
        },
    }


@pytest.mark.parametrize("stack", STACKS)
def test_expiring_listener_certificates_warn_at_30_days_and_page_at_7(tmp_path: Path, stack: str) -> None:
    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": [
                listener_cert("envoy-a", 20),  # 20 days left: a warning once it has held for an hour
                listener_cert("envoy-b", 40),  # 40 days: nothing
                listener_cert("envoy-c", 5, tagged=False),  # 5 days, name without tags: critical too
                # Envoy's other certificates are not the listener's: the xDS CA (cluster scope) and the server-wide
                # minimum over everything it holds, both about to lapse, page nobody.
                {
                    "series": 'envoy_cluster_ssl_certificate_expiration_unix_time_seconds{envoy_cluster_name="xds_cluster",namespace="front-door",pod="envoy-a"}',
                    "values": f"{1 * DAY}x90",
                },
                {
                    "series": 'envoy_server_days_until_first_cert_expiring{namespace="front-door",pod="envoy-b"}',
                    "values": "0x90",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "50m", "alertname": "FrontDoorCertificateExpiring", "exp_alerts": []},  # for: 1h
                {"eval_time": "5m", "alertname": "FrontDoorCertificateExpiringSoon", "exp_alerts": []},  # for: 10m
                {
                    "eval_time": "70m",
                    "alertname": "FrontDoorCertificateExpiring",
                    "exp_alerts": [
                        expiring(stack, "envoy-a", "19d 22h 50m 0s", "warning", False),
                        expiring(stack, "envoy-c", "4d 22h 50m 0s", "warning", False),
                    ],
                },
                {
                    "eval_time": "20m",
                    "alertname": "FrontDoorCertificateExpiringSoon",
                    "exp_alerts": [expiring(stack, "envoy-c", "4d 23h 40m 0s", "critical", True)],
                },
                {"eval_time": "70m", "alertname": "FrontDoorCertificatesUnwatched", "exp_alerts": []},
            ],
        }
    ]
    assert run_promtool(tmp_path, shipped_groups(stack), tests) == ""


def test_no_listener_certificate_reported_is_an_alert_of_its_own(tmp_path: Path) -> None:
    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            # Another namespace's Envoy, and the front door's proxies without a listener certificate, do not count.
            "input_series": [
                {"series": f'{TAGGED}{{namespace="other",pod="x"}}', "values": f"{90 * DAY}x60"},
                {
                    "series": 'envoy_server_days_until_first_cert_expiring{namespace="front-door",pod="envoy-a"}',
                    "values": "90x60",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "20m", "alertname": "FrontDoorCertificatesUnwatched", "exp_alerts": []},  # for: 30m
                {
                    "eval_time": "40m",
                    "alertname": "FrontDoorCertificatesUnwatched",
                    "exp_alerts": [
                        {
                            "exp_labels": {"namespace": "front-door", "site": "onprem", "severity": "warning"},
                            "exp_annotations": {
                                "summary": "No front-door proxy reports a listener certificate",
                                "description": "Prometheus scrapes no gateway proxy (PodMonitor front-door-proxies), "
                                "or no listener holds a certificate (its Secret missing or refused): the front door "
                                "may not be serving TLS.",
                            },
                        }
                    ],
                },
                {"eval_time": "40m", "alertname": "FrontDoorCertificateExpiring", "exp_alerts": []},
            ],
        }
    ]
    assert run_promtool(tmp_path, shipped_groups("onprem"), tests) == ""


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_scrapes_the_proxies_stats_port_and_only_it_is_admitted(stack: str) -> None:
    [monitor] = [
        m
        for m in _stack(stack, "kubernetes:monitoring.coreos.com/v1:PodMonitor")
        if m["metadata"]["namespace"] == NAMESPACE
    ]
    assert monitor["spec"]["selector"] == {"matchLabels": GATEWAY_SELECTOR}
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/stats/prometheus")
    policies = [
        p
        for p in _stack(stack, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if p["metadata"]["namespace"] == NAMESPACE
    ]
    prometheus = ("monitoring", dict(PROMETHEUS_POD_LABELS))
    proxies = dict(GATEWAY_SELECTOR)
    assert admitted(policies, proxies, prometheus, 19001)
    assert not admitted(policies, proxies, prometheus, 10443)  # the scraper does not reach the listener
    assert not admitted(policies, proxies, ("monitoring", {"app": "other"}), 19001)
