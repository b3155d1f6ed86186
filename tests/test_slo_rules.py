"""The SLO, GPU and VPN-gateway rules under the real ``promtool`` (Debian package ``prometheus``).

The rule file is the spec of the PrometheusRule the shipped stack registers (read from its mock run), so what
is tested is what is deployed. Input series are written as Prometheus stores vLLM 0.11's, dcgm-exporter's and
kube-state-metrics' series; every alert has series that must fire it (with its labels and annotations) and series
that must not, and every recording rule an expected value.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.slo_rules import ITL, ModelSlo, SloRulesArgs, burn_factor, rule_groups
from tests.stack_runs import shipped_runs
from tests.test_trigger_promql import promtool

RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
MODEL = "Qwen/Qwen2.5-32B-Instruct"  # on-prem; SLO 1200 ms TTFT, 150 ms ITL, 0.995 over 28 d (Pulumi.yaml)
OTHER = "meta-llama/Llama-3.1-8B-Instruct"


def shipped_groups(stack: str) -> list[dict[str, Any]]:
    (rule,) = [r for r in shipped_runs()[stack].resources if r.type == RULE]
    groups: list[dict[str, Any]] = rule.inputs["spec"]["groups"]
    return groups


def run_promtool(tmp_path: Path, groups: list[dict[str, Any]], tests: list[dict[str, Any]]) -> str:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    check = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    spec = tmp_path / "test.yaml"
    spec.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}))
    done = subprocess.run([promtool(), "test", "rules", str(spec)], capture_output=True, text=True, cwd=tmp_path)
    return done.stdout + done.stderr if done.returncode else ""


def requests(model: str, good_per_min: float, aborted_per_min: float, minutes: int) -> list[dict[str, str]]:
    base = f'vllm:request_success_total{{model_name="{model}",engine="0",namespace="inference",pod="p-0"'
    return [
        {"series": base + ',finished_reason="stop"}', "values": f"0+{good_per_min}x{minutes}"},
        {"series": base + ',finished_reason="abort"}', "values": f"0+{aborted_per_min}x{minutes}"},
    ]


def ttft_buckets(model: str, per_min: dict[str, float], minutes: int) -> list[dict[str, str]]:
    """Cumulative buckets of vLLM's TTFT histogram (its real bounds up to 2.5 s, then +Inf)."""
    series, total = [], 0.0
    for le in ("0.5", "0.75", "1.0", "2.5", "+Inf"):
        total += per_min.get(le, 0.0)
        series.append(
            {
                "series": f'vllm:time_to_first_token_seconds_bucket{{model_name="{model}",engine="0",le="{le}"}}',
                "values": f"0+{total}x{minutes}",
            }
        )
    return series


def burn_labels(severity: str) -> dict[str, str]:
    return {"model_name": MODEL, "site": "onprem", "severity": severity, "slo": "availability"}


BURN_ANNOTATION = "Availability SLO 0.995 over 28d: error ratio {} over the long window (the short window agrees)."


def test_burn_factors_follow_the_workbook_for_a_30_day_window() -> None:
    assert burn_factor(0.02, "1h", 30) == pytest.approx(14.4)
    assert burn_factor(0.05, "6h", 30) == pytest.approx(6)
    assert burn_factor(0.10, "3d", 30) == pytest.approx(1)


def test_the_shipped_rules_are_the_generated_ones_with_the_configured_slos() -> None:
    groups = shipped_groups("onprem")
    expected = rule_groups(
        SloRulesArgs(
            namespace="monitoring",
            site="onprem",
            models=[
                ModelSlo(OTHER, 0.8, 0.1, 0.995, 28),
                ModelSlo(MODEL, 1.2, 0.15, 0.995, 28),
            ],
            vpn_gateway=None,
        )
    )
    names = [g["name"] for g in groups]
    assert names == [g["name"] for g in expected] + ["vpn-gateway", "front-door"]
    assert groups[: len(expected)] == expected
    for stack in ("frankfurt", "dubai"):
        aws = [g["name"] for g in shipped_groups(stack)]
        # AWS tunnels: CloudWatch alarms; both regions have a front door.
        assert aws == ["vllm-slo-records", f"vllm-slo-{OTHER}", "gpu", "front-door"], aws


def test_availability_burn_alerts_fire_on_fast_and_slow_burns_only(tmp_path: Path) -> None:
    groups = shipped_groups("onprem")
    fast_limit = burn_factor(0.02, "1h", 28) * 0.005
    assert fast_limit == pytest.approx(0.0672)
    tests: list[dict[str, Any]] = [
        {
            # 10 % of requests aborted for 70 minutes: above 13.44x the 0.5 % budget on 1 h and 5 m.
            "interval": "1m",
            "input_series": requests(MODEL, 54, 6, 70) + requests(OTHER, 60, 0, 70),
            "alert_rule_test": [
                {
                    "eval_time": "65m",
                    "alertname": "VllmErrorBudgetFastBurn",
                    "exp_alerts": [
                        {
                            "exp_labels": burn_labels("critical"),
                            "exp_annotations": {
                                "summary": f"{MODEL} is spending its error budget too fast",
                                "description": BURN_ANNOTATION.format("10%"),
                            },
                        }
                    ],
                },
            ],
            "promql_expr_test": [
                {
                    "expr": "model_name:vllm_request_success:ratio_rate5m",
                    "eval_time": "65m",
                    "exp_samples": [
                        {
                            "labels": f'model_name:vllm_request_success:ratio_rate5m{{model_name="{MODEL}"}}',
                            "value": 0.9,
                        },
                        {"labels": f'model_name:vllm_request_success:ratio_rate5m{{model_name="{OTHER}"}}', "value": 1},
                    ],
                }
            ],
        },
        {
            # 0.5 % aborted: exactly the budget's pace, no page.
            "interval": "1m",
            "input_series": requests(MODEL, 199, 1, 70),
            "alert_rule_test": [{"eval_time": "65m", "alertname": "VllmErrorBudgetFastBurn", "exp_alerts": []}],
        },
        {
            # A 5-minute burst after an hour of clean traffic: the short window burns, the 1 h window does not.
            "interval": "1m",
            "input_series": [
                {
                    "series": f'vllm:request_success_total{{model_name="{MODEL}",engine="0",finished_reason="stop"}}',
                    "values": "0+60x70",
                },
                {
                    "series": f'vllm:request_success_total{{model_name="{MODEL}",engine="0",finished_reason="abort"}}',
                    "values": "0x64 0+30x5",
                },
            ],
            "alert_rule_test": [{"eval_time": "68m", "alertname": "VllmErrorBudgetFastBurn", "exp_alerts": []}],
        },
        {
            # 1.5 % aborted for 3+ days: below the page limits (6.72 %, 2.8 %), above the ticket's 0.467 %.
            "interval": "10m",
            "input_series": requests(MODEL, 985, 15, 460),
            "alert_rule_test": [
                {
                    "eval_time": "3d2h",
                    "alertname": "VllmErrorBudgetSlowBurn",
                    "exp_alerts": [
                        {
                            "exp_labels": burn_labels("warning"),
                            "exp_annotations": {
                                "summary": f"{MODEL} is spending its error budget too fast",
                                "description": BURN_ANNOTATION.format("1.5%"),
                            },
                        }
                    ],
                },
                {"eval_time": "3d2h", "alertname": "VllmErrorBudgetFastBurn", "exp_alerts": []},
            ],
        },
        {
            "interval": "10m",
            "input_series": requests(MODEL, 998, 2, 460),
            "alert_rule_test": [{"eval_time": "3d2h", "alertname": "VllmErrorBudgetSlowBurn", "exp_alerts": []}],
        },
    ]
    assert run_promtool(tmp_path, groups, tests) == ""


def test_ttft_p95_alert_fires_above_the_slo_and_records_the_quantile(tmp_path: Path) -> None:
    # All requests between 1 and 2.5 s: p95 interpolates to 1 + 0.95 x 1.5 = 2.425 s > the 1.2 s SLO.
    slow = ttft_buckets(MODEL, {"2.5": 10}, 30)
    # All under 0.5 s, and another model slow (its own SLO is not this one's).
    fast = ttft_buckets(MODEL, {"0.5": 10}, 30) + ttft_buckets(OTHER, {"2.5": 10}, 30)
    labels = {"model_name": MODEL, "site": "onprem", "severity": "warning", "slo": "ttft"}
    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": slow,
            "alert_rule_test": [
                {
                    "eval_time": "9m",
                    "alertname": "VllmTimeToFirstTokenP95AboveSLO",
                    "exp_alerts": [],
                },  # pending (for: 10m)
                {
                    "eval_time": "20m",
                    "alertname": "VllmTimeToFirstTokenP95AboveSLO",
                    "exp_alerts": [
                        {
                            "exp_labels": labels,
                            "exp_annotations": {
                                "summary": f"{MODEL}: TTFT p95 above its SLO of 1200 ms",
                                "description": "TTFT p95 is 2.425s (SLO 1200 ms).",
                            },
                        }
                    ],
                },
            ],
            "promql_expr_test": [
                {
                    "expr": "model_name:vllm_time_to_first_token_seconds:p95_5m",
                    "eval_time": "20m",
                    "exp_samples": [
                        {
                            "labels": f'model_name:vllm_time_to_first_token_seconds:p95_5m{{model_name="{MODEL}"}}',
                            "value": 2.425,
                        }
                    ],
                }
            ],
        },
        {
            "interval": "1m",
            "input_series": fast,
            "alert_rule_test": [
                {
                    "eval_time": "20m",
                    "alertname": "VllmTimeToFirstTokenP95AboveSLO",
                    # Only the other model, whose 2.425 s is above its 800 ms SLO.
                    "exp_alerts": [
                        {
                            "exp_labels": {**labels, "model_name": OTHER},
                            "exp_annotations": {
                                "summary": f"{OTHER}: TTFT p95 above its SLO of 800 ms",
                                "description": "TTFT p95 is 2.425s (SLO 800 ms).",
                            },
                        }
                    ],
                }
            ],
        },
    ]
    assert run_promtool(tmp_path, shipped_groups("onprem"), tests) == ""


def test_itl_p95_alert_uses_vllm_011s_inter_token_histogram(tmp_path: Path) -> None:
    def itl(model: str, le: str) -> list[dict[str, str]]:
        buckets = ("0.1", "0.15", "0.2", "+Inf")
        return [
            {
                "series": f'vllm:inter_token_latency_seconds_bucket{{model_name="{model}",engine="0",le="{b}"}}',
                "values": "0+100x30" if float(b) >= float(le) else "0x30",
            }
            for b in buckets
        ]

    labels = {"model_name": MODEL, "site": "onprem", "severity": "warning", "slo": "itl"}
    tests: list[dict[str, Any]] = [
        {
            # Every token gap in (0.15, 0.2]: p95 = 0.15 + 0.95 x 0.05 = 0.1975 s > 150 ms.
            "interval": "1m",
            "input_series": itl(MODEL, "0.2"),
            "alert_rule_test": [
                {
                    "eval_time": "20m",
                    "alertname": "VllmInterTokenLatencyP95AboveSLO",
                    "exp_alerts": [
                        {
                            "exp_labels": labels,
                            "exp_annotations": {
                                "summary": f"{MODEL}: ITL p95 above its SLO of 150 ms",
                                "description": "ITL p95 is 197.5ms (SLO 150 ms).",
                            },
                        }
                    ],
                }
            ],
        },
        {
            "interval": "1m",
            "input_series": itl(MODEL, "0.1"),
            "alert_rule_test": [
                {"eval_time": "20m", "alertname": "VllmInterTokenLatencyP95AboveSLO", "exp_alerts": []}
            ],
        },
    ]
    assert run_promtool(tmp_path, shipped_groups("onprem"), tests) == ""


def test_gpu_and_vpn_gateway_alerts(tmp_path: Path) -> None:
    gpu = 'gpu="0",UUID="GPU-1",Hostname="node-a",modelName="NVIDIA L40S"'
    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": [
                {"series": f"DCGM_FI_DEV_XID_ERRORS{{{gpu}}}", "values": "0 0 79 79"},
                {"series": 'DCGM_FI_DEV_XID_ERRORS{gpu="1",UUID="GPU-2",Hostname="node-a"}', "values": "0 0 0 0"},
                {
                    "series": 'kube_daemonset_status_number_ready{namespace="vpn-gateway",daemonset="strongswan-gateway"}',
                    "values": "2 1 1 1 1",
                },
                {
                    "series": 'kube_daemonset_status_desired_number_scheduled{namespace="vpn-gateway",daemonset="strongswan-gateway"}',
                    "values": "2 2 2 2 2",
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": "3m",
                    "alertname": "GpuXidError",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "gpu": "0",
                                "UUID": "GPU-1",
                                "Hostname": "node-a",
                                "modelName": "NVIDIA L40S",
                                "site": "onprem",
                                "severity": "critical",
                            },
                            "exp_annotations": {
                                "summary": "GPU 0 on node-a reported XID 79",
                                "description": "See NVIDIA's XID catalogue; most XIDs need the GPU drained and reset.",
                            },
                        }
                    ],
                },
                {"eval_time": "1m", "alertname": "GpuXidError", "exp_alerts": []},
                {"eval_time": "2m", "alertname": "VpnGatewayDown", "exp_alerts": []},  # for: 2m
                {
                    "eval_time": "4m",
                    "alertname": "VpnGatewayDown",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "namespace": "vpn-gateway",
                                "daemonset": "strongswan-gateway",
                                "site": "onprem",
                                "severity": "critical",
                            },
                            "exp_annotations": {
                                "summary": "The on-prem VPN gateway is not ready on every edge node",
                                "description": "1 gateway pods ready; charon does not answer over vici on the "
                                "others, so their tunnels to AWS are down.",
                            },
                        }
                    ],
                },
            ],
        }
    ]
    assert run_promtool(tmp_path, shipped_groups("onprem"), tests) == ""


def test_thermal_throttling_fires_on_a_rising_violation_counter_not_a_flat_one(tmp_path: Path) -> None:
    def gpu(index: str, host: str = 'Hostname="node-a"') -> str:
        return f'DCGM_FI_DEV_THERMAL_VIOLATION{{gpu="{index}",UUID="GPU-{index}",{host},modelName="NVIDIA L40S"}}'

    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": [
                # Throttled 15 s of every minute (the counter is in ns): 25 % of the time, sustained.
                {"series": gpu("0"), "values": "0+15000000000x20"},
                # The same on a newer exporter, which spells the label hostname (dcgm-exporter #655).
                {"series": gpu("1", 'hostname="node-b"'), "values": "0+15000000000x20"},
                # Throttled long ago: a high but flat counter.
                {"series": gpu("2"), "values": "7000000000x20"},
                # One 30 s episode at minute 3, then nothing: resolved by minute 12.
                {"series": gpu("3"), "values": "0 0 0 30000000000x17"},
                # The exporter restarted (the counter reset to 0) and stayed flat.
                {"series": gpu("4"), "values": "9000000000 9000000000 0x18"},
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "GpuThermalThrottling", "exp_alerts": []},  # pending (for: 5m)
                {
                    "eval_time": "12m",
                    "alertname": "GpuThermalThrottling",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "gpu": index,
                                "UUID": f"GPU-{index}",
                                host_label: host,
                                "modelName": "NVIDIA L40S",
                                "site": "onprem",
                                "severity": "warning",
                            },
                            "exp_annotations": {
                                "summary": f"GPU {index} on {host} is thermally throttled",
                                "description": "Throttled for thermal reasons 25% of the time, for 5 minutes: "
                                "latency SLOs will suffer.",
                            },
                        }
                        for index, host_label, host in (("0", "Hostname", "node-a"), ("1", "hostname", "node-b"))
                    ],
                },
            ],
        }
    ]
    assert run_promtool(tmp_path, shipped_groups("onprem"), tests) == ""


def test_a_typo_in_a_metric_name_fails_the_tests(tmp_path: Path) -> None:
    groups = shipped_groups("onprem")
    slow = [
        {
            "series": f'vllm:inter_token_latency_seconds_bucket{{model_name="{MODEL}",engine="0",le="{b}"}}',
            "values": "0+100x30" if b != "0.15" else "0x30",
        }
        for b in ("0.15", "0.2", "+Inf")
    ]
    expected = {
        "exp_labels": {"model_name": MODEL, "site": "onprem", "severity": "warning", "slo": "itl"},
        "exp_annotations": {
            "summary": f"{MODEL}: ITL p95 above its SLO of 150 ms",
            "description": "ITL p95 is 197.5ms (SLO 150 ms).",
        },
    }
    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": slow,
            "alert_rule_test": [
                {"eval_time": "20m", "alertname": "VllmInterTokenLatencyP95AboveSLO", "exp_alerts": [expected]}
            ],
        }
    ]
    assert run_promtool(tmp_path, groups, tests) == ""
    for wrong, right in (("vllm:inter_token_latency", ITL), ("model_nme", "model_name")):
        text = yaml.safe_dump(groups).replace(right, wrong) if wrong != "model_nme" else None
        if text is None:
            text = yaml.safe_dump(groups).replace('model_name="', 'model_nme="')
        broken = yaml.safe_load(text)
        assert "VllmInterTokenLatencyP95AboveSLO" in run_promtool(tmp_path, broken, tests), wrong


def test_synthetic_probe_alerts(tmp_path: Path) -> None:
    target = (
        f'{{job="synthetic-qwen25-32b",instance="http://qwen25-32b.inference.svc.cluster.local:8000/v1/completions",'
        f'model_name="{MODEL}"}}'
    )
    other = target.replace(MODEL, OTHER).replace("qwen25-32b", "llama-31-8b")
    labels = {
        "job": "synthetic-qwen25-32b",
        "instance": "http://qwen25-32b.inference.svc.cluster.local:8000/v1/completions",
        "model_name": MODEL,
        "site": "onprem",
    }
    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": [
                # Fails from minute 2 on; its one-token completions take 1.5 s (SLO 1.2 s).
                {"series": f"probe_success{target}", "values": "1 1 0x20"},
                {"series": f"probe_duration_seconds{target}", "values": "1.5x40"},
                # The other model answers, in 0.3 s (SLO 0.8 s).
                {"series": f"probe_success{other}", "values": "1x40"},
                {"series": f"probe_duration_seconds{other}", "values": "0.3x40"},
            ],
            "alert_rule_test": [
                {"eval_time": "6m", "alertname": "SyntheticProbeFailing", "exp_alerts": []},  # pending (for: 5m)
                {
                    "eval_time": "8m",
                    "alertname": "SyntheticProbeFailing",
                    "exp_alerts": [
                        {
                            "exp_labels": {**labels, "severity": "critical", "slo": "availability"},
                            "exp_annotations": {
                                "summary": f"{MODEL} does not answer its synthetic probe",
                                "description": "The one-token completion has failed for 5 minutes "
                                f"({labels['instance']}).",
                            },
                        }
                    ],
                },
                {
                    "eval_time": "10m",
                    "alertname": "SyntheticProbeTimeToFirstTokenAboveSLO",
                    "exp_alerts": [
                        {
                            "exp_labels": {**labels, "severity": "warning", "slo": "ttft"},
                            "exp_annotations": {
                                "summary": f"{MODEL}: probed TTFT p95 above its SLO of 1200 ms",
                                "description": "p95 of the probe's one-token completion over 30 m is 1.5s.",
                            },
                        }
                    ],
                },
            ],
        }
    ]
    assert run_promtool(tmp_path, shipped_groups("onprem"), tests) == ""
