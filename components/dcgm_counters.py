"""The one list of DCGM fields every cluster's dcgm-exporter exports, rendered as dcgm-exporter's counters CSV.

dcgm-exporter exports exactly the fields of its counters CSV (``DCGM FIELD, Prometheus metric type, help``), each as
a metric named like the field. Its default list (etc/default-counters.csv and the chart's metrics ConfigMap, the
same list from 4.3.1-4.4.0, the GPU Operator v25.3.4's exporter, to 4.5.3-4.8.2) leaves the throttling counters
commented out, so an alert on them never fires. This is that default list plus ``DCGM_FI_DEV_THERMAL_VIOLATION``,
used by the EKS chart (components/gpu_telemetry.py) and the on-prem GPU Operator (components/onprem_cluster.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

XID_ERRORS = "DCGM_FI_DEV_XID_ERRORS"
THERMAL_VIOLATION = "DCGM_FI_DEV_THERMAL_VIOLATION"


@dataclass(frozen=True)
class Counter:
    field: str
    kind: Literal["gauge", "counter", "label"]
    """``label`` fields become labels on the other metrics, not metrics of their own."""
    help: str


# Help texts as in dcgm-exporter's etc/default-counters.csv (4.5.3-4.8.2).
COUNTERS: tuple[Counter, ...] = (
    Counter("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    Counter("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    Counter("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    Counter("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    Counter("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    Counter("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ)."),
    Counter("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    Counter("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    Counter("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    Counter("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."),
    Counter("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."),
    Counter(XID_ERRORS, "gauge", "Value of the last XID error encountered."),
    # NVML's violation time (nvmlDeviceGetViolationStatus), in ns: dcgm-exporter's help said "us" until 4.4.2-4.7.1
    # corrected the text (#589), the value did not change. Not in the default list: GpuThermalThrottling needs it.
    Counter(THERMAL_VIOLATION, "counter", "Throttling duration due to thermal constraints (in ns)."),
    Counter("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    Counter("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    Counter("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."),
    Counter(
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter", "Total number of NVLink bandwidth counters for all lanes."
    ),
    Counter("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status"),
    Counter("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for uncorrectable errors"),
    Counter("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for correctable errors"),
    Counter("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
    Counter("DCGM_FI_DRIVER_VERSION", "label", "Driver Version"),
    # Profiling (DCP) fields, Volta and newer; the exporter needs SYS_ADMIN for them.
    Counter("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
    Counter("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active."),
    Counter(
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "gauge",
        "Ratio of cycles the device memory interface is active sending or receiving data.",
    ),
    Counter(
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "gauge",
        "The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - "
        "in bytes per second.",
    ),
    Counter(
        "DCGM_FI_PROF_PCIE_RX_BYTES",
        "gauge",
        "The rate of data received over the PCIe bus - including both protocol headers and data payloads - "
        "in bytes per second.",
    ),
)


def counters_csv() -> str:
    """The file dcgm-exporter reads with ``-f`` (or ``DCGM_EXPORTER_COLLECTORS``); the help may hold no comma."""
    lines = ["# DCGM FIELD, Prometheus metric type, help message (components/dcgm_counters.py)"]
    lines += [f"{c.field}, {c.kind}, {c.help}" for c in COUNTERS]
    return "\n".join(lines) + "\n"


def exported_metrics(csv: str) -> frozenset[str]:
    """The metric names a counters CSV makes dcgm-exporter export (comments, blanks and label fields excluded).

    Parsed as dcgm-exporter does (internal/pkg/counters/counter_config.go: Go's csv reader, ``#`` comments, fields
    trimmed, exactly three per record); a malformed record raises ``ValueError``, as the exporter would refuse it.
    """
    names = set()
    for number, line in enumerate(csv.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [part.strip(" ") for part in line.split(",")]
        if len(parts) != 3 or '"' in line:
            raise ValueError(f"line {number} ({line!r}): expected 3 unquoted fields, got {len(parts)}")
        field, kind, _help = parts
        if kind not in ("gauge", "counter", "label"):
            raise ValueError(f"line {number}: {kind!r} is not a metric type dcgm-exporter knows")
        if kind != "label":
            names.add(field)
    return frozenset(names)
