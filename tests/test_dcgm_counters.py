"""The shared DCGM counters CSV: what it exports, that every DCGM metric the shipped stacks' rules read is in it
(so an alert on a field dcgm-exporter does not export fails here), and that both clusters' exporters are given it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from components.dcgm_counters import COUNTERS, THERMAL_VIOLATION, XID_ERRORS, counters_csv, exported_metrics
from infra.mocks import CapturedResource
from tests.stack_runs import shipped_runs

RELEASE = "kubernetes:helm.sh/v3:Release"
DCGM_METRIC = re.compile(r"\bDCGM_(?:FI|EXP)_[A-Z0-9_]+\b")


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def dcgm_metrics_read(resources: Iterable[CapturedResource]) -> set[str]:
    """Every DCGM metric named in any input of any resource (PrometheusRule expressions, KEDA queries, ...), the
    counters CSV itself left out."""
    csv = counters_csv()
    return {m for r in resources for s in strings(r.inputs) if s != csv for m in DCGM_METRIC.findall(s)}


def release(stack: str, chart: str) -> CapturedResource:
    (found,) = [
        r
        for r in shipped_runs()[stack].resources
        if r.type == RELEASE and r.inputs["chart"].rsplit("/", 1)[-1] == chart
    ]
    return found


def test_the_csv_is_what_dcgm_exporter_parses_with_the_thermal_counter() -> None:
    exported = exported_metrics(counters_csv())
    assert {XID_ERRORS, THERMAL_VIOLATION, "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED"} <= (
        exported
    )
    fields = [c.field for c in COUNTERS]
    assert len(fields) == len(set(fields))
    assert exported == {c.field for c in COUNTERS if c.kind != "label"}
    assert "DCGM_FI_DRIVER_VERSION" not in exported  # a label on the others, no series of its own
    (thermal,) = [c for c in COUNTERS if c.field == THERMAL_VIOLATION]
    assert thermal.kind == "counter"  # rate() needs a counter


@pytest.mark.parametrize(
    "line", ["DCGM_FI_DEV_GPU_TEMP, gauge, GPU temperature, in C.", "DCGM_FI_DEV_GPU_TEMP, gauge", "X, histo, h"]
)
def test_a_record_dcgm_exporter_would_refuse_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="line 2"):
        exported_metrics("# header\n" + line + "\n")


@pytest.mark.parametrize("stack", ["frankfurt", "dubai", "onprem"])
def test_every_dcgm_metric_a_shipped_rule_reads_is_exported(stack: str) -> None:
    read = dcgm_metrics_read(shipped_runs()[stack].resources)
    assert {XID_ERRORS, THERMAL_VIOLATION} <= read  # the GPU alerts are shipped and seen by this scan
    assert read <= exported_metrics(counters_csv()), sorted(read - exported_metrics(counters_csv()))


def test_the_scan_catches_a_rule_on_a_field_the_exporter_does_not_export() -> None:
    # The thermal alert as it was: a field dcgm-exporter's default list comments out, and so does ours.
    expr = "floor(DCGM_FI_DEV_CLOCKS_EVENT_REASONS / 32) % 4 > 0"
    old = CapturedResource(
        urn="urn:old",
        type="kubernetes:monitoring.coreos.com/v1:PrometheusRule",
        name="old",
        id="old",
        parent=None,
        provider=None,
        custom=True,
        inputs={"spec": {"groups": [{"name": "gpu", "rules": [{"alert": "GpuThermalThrottling", "expr": expr}]}]}},
    )
    assert dcgm_metrics_read([old]) - exported_metrics(counters_csv()) == {"DCGM_FI_DEV_CLOCKS_EVENT_REASONS"}


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_the_eks_exporter_reads_the_csv(stack: str) -> None:
    values = release(stack, "dcgm-exporter").inputs["values"]
    # The chart renders customMetrics into this ConfigMap's key "metrics" (chart templates/metrics-configmap.yaml).
    assert values["customMetrics"] == counters_csv()
    flag, path = values["arguments"]
    assert flag == "-f"
    (mount,) = values["extraVolumeMounts"]
    (volume,) = values["extraConfigMapVolumes"]
    assert mount["mountPath"] == path and mount["name"] == volume["name"]
    assert volume["configMap"]["name"] == "exporter-metrics-config-map"
    assert volume["configMap"]["items"] == [{"key": "metrics", "path": mount["subPath"]}]


def test_the_onprem_gpu_operator_creates_and_names_the_csv() -> None:
    exporter = release("onprem", "gpu-operator").inputs["values"]["dcgmExporter"]
    assert exporter["enabled"] is True
    # gpu-operator v25.3.4: create renders ConfigMap <name> with key dcgm-metrics.csv, the ClusterPolicy names it.
    assert exporter["config"] == {"name": "dcgm-exporter-counters", "create": True, "data": counters_csv()}
