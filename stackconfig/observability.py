"""Config of each cluster's metrics (kube-prometheus-stack) and of KEDA, which scales the models on them.

Keys: ``hybrid-llm-infra:metrics`` and ``hybrid-llm-infra:keda`` on every stack. Self-contained (pydantic +
stdlib + residency + stackconfig.helm): stackconfig/models.py imports it at its top. The checks that need the
whole stack (remote write in the jurisdiction, the storage class per kind of stack) are ``metrics_problems``,
which the loader runs before anything is registered. Defaults live here and nowhere else.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from residency import JURISDICTIONS
from stackconfig.errors import Problem
from stackconfig.helm import HelmChartConfig

KUBE_PROMETHEUS_STACK = ("https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "77.5.0")
KEDA = ("https://kedacore.github.io/charts", "keda", "2.17.2")
DCGM_EXPORTER = ("https://nvidia.github.io/dcgm-exporter/helm-charts", "dcgm-exporter", "4.8.4")
# The EKS add-on build of the EBS CSI driver v1.49.0 (public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.49.0);
# `aws eks describe-addon-versions --addon-name aws-ebs-csi-driver --kubernetes-version 1.33` lists the builds;
# v1.49.0-eksbuild.1 is the build public EKS configs pin next to coredns v1.12.4-eksbuild.1 (not checked live).
EBS_CSI_ADDON_VERSION = "v1.49.0-eksbuild.1"

# Prometheus' --storage.tsdb.retention.time is a Prometheus duration; 0 (or none) means "keep forever" is not
# what we want: a positive count of hours, days, weeks or years (Prometheus docs, "Operational aspects").
_RETENTION_TIME = re.compile(r"^[1-9][0-9]*(h|d|w|y)$")
# --storage.tsdb.retention.size takes B, KB, MB, GB, TB, PB, EB (base 2); 0 disables the limit.
_RETENTION_SIZE = re.compile(r"^([1-9][0-9]*)(MB|GB|TB)$")
_SIZE_UNITS = {"MB": 2**20, "GB": 2**30, "TB": 2**40}
_VOLUME_SIZE = re.compile(r"^([1-9][0-9]*)(Gi|Ti)$")
_VOLUME_UNITS = {"Gi": 2**30, "Ti": 2**40}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


def _chart(defaults: tuple[str, str, str]) -> HelmChartConfig:
    repository, chart, version = defaults
    return HelmChartConfig(repository=repository, chart=chart, version=version)


class RemoteWriteEndpoint(_Model):
    """A Prometheus remote-write receiver and where it stores the samples (checked against the stack's
    jurisdiction; the policy ``metrics-remote-write-in-jurisdiction`` checks the rendered values again)."""

    url: str = Field(pattern=r"^https://[^\s/]+(/\S*)?$", description="https:// URL of the receiver.")
    jurisdiction: Literal["EU", "UAE"] = Field(description="Jurisdiction where the receiver stores the samples.")
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$",
        description="AWS region of the receiver, if it is an AWS service (e.g. Amazon Managed Prometheus).",
    )

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


class MetricsConfig(_Model):
    """kube-prometheus-stack: Prometheus (storage on an encrypted volume, bounded retention), Alertmanager, the
    Prometheus Operator and kube-state-metrics, on the system nodes."""

    chart: HelmChartConfig = Field(
        default_factory=lambda: _chart(KUBE_PROMETHEUS_STACK),
        description="kube-prometheus-stack chart (repository may be a mirror).",
    )
    namespace: str = Field(default="monitoring", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    retention_time: str = Field(
        default="15d", description="How long samples are kept (Prometheus duration: 1-9... h, d, w or y; never 0)."
    )
    retention_size: str = Field(
        default="40GB", description="Most disk the TSDB may use (MB, GB or TB; never 0), below storageSize."
    )
    storage_size: str = Field(default="50Gi", description="Size of Prometheus' persistent volume (Gi or Ti).")
    storage_class: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
        description="On-prem: the StorageClass of Prometheus' volume, an encrypted one (required). AWS: unset; the "
        "stack creates an EBS gp3 class encrypted with the stack key.",
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="On-prem: node labels for Prometheus, Alertmanager, the operator and KEDA (GPU nodes are tainted, "
        "so they stay off them anyway). AWS: unset; the system node group is used.",
    )
    scrape_interval: str = Field(default="15s", pattern=r"^[1-9][0-9]*s$", description="Scrape and rule interval.")
    remote_write: list[RemoteWriteEndpoint] = Field(
        default_factory=list, description="Remote-write receivers; each must store in the stack's jurisdiction."
    )
    gpu_telemetry: HelmChartConfig = Field(
        default_factory=lambda: _chart(DCGM_EXPORTER),
        description="AWS: NVIDIA dcgm-exporter chart on the GPU nodes (on-prem the GPU Operator runs it).",
    )
    ebs_csi_addon_version: str = Field(
        default=EBS_CSI_ADDON_VERSION,
        pattern=r"^v\d+\.\d+\.\d+-eksbuild\.\d+$",
        description="AWS: version of the aws-ebs-csi-driver EKS add-on.",
    )

    @field_validator("retention_time")
    @classmethod
    def _bounded_time(cls, value: str) -> str:
        if not _RETENTION_TIME.fullmatch(value):
            raise ValueError(
                "must be a positive Prometheus duration in h, d, w or y (e.g. 15d); 0 or none would keep samples "
                "without a time bound"
            )
        return value

    @field_validator("retention_size")
    @classmethod
    def _bounded_size(cls, value: str) -> str:
        if not _RETENTION_SIZE.fullmatch(value):
            raise ValueError("must be a positive size in MB, GB or TB (e.g. 40GB); 0 would remove the size bound")
        return value

    @field_validator("storage_size")
    @classmethod
    def _volume(cls, value: str) -> str:
        if not _VOLUME_SIZE.fullmatch(value):
            raise ValueError("must be a positive volume size in Gi or Ti (e.g. 50Gi)")
        return value

    def retention_bytes(self) -> int:
        match = _RETENTION_SIZE.fullmatch(self.retention_size)
        assert match
        return int(match[1]) * _SIZE_UNITS[match[2]]

    def storage_bytes(self) -> int:
        match = _VOLUME_SIZE.fullmatch(self.storage_size)
        assert match
        return int(match[1]) * _VOLUME_UNITS[match[2]]


class KedaConfig(_Model):
    """KEDA: one ScaledObject per model on its vLLM queue, read from the in-cluster Prometheus."""

    chart: HelmChartConfig = Field(
        default_factory=lambda: _chart(KEDA), description="KEDA chart (repository may be a mirror)."
    )
    namespace: str = Field(default="keda", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def namespace_problems(metrics: MetricsConfig, keda: KedaConfig, taken: dict[str, str]) -> list[Problem]:
    """The metrics and KEDA namespaces are their own: not an inference namespace, nor each other's.
    ``taken`` maps namespaces the stack already uses to the key that names them."""
    owned = {**taken}
    problems = []
    for key, namespace in (("metrics.namespace", metrics.namespace), ("keda.namespace", keda.namespace)):
        path = f"hybrid-llm-infra:{key}"
        if namespace in owned:
            problems.append(Problem(path, f"{namespace!r} is already used by {owned[namespace]}; choose another"))
        owned.setdefault(namespace, path)
    return problems


def metrics_problems(base: str, metrics: MetricsConfig, jurisdiction: str, kind: str) -> list[Problem]:
    """Checks that need the stack: remote write stays in the jurisdiction, retention fits the volume, the storage
    class is the site's own (on-prem) or the stack's encrypted one (AWS). ``base`` is ``hybrid-llm-infra:metrics``."""
    problems: list[Problem] = []
    for i, endpoint in enumerate(metrics.remote_write):
        path = f"{base}.remoteWrite[{i}]"
        if endpoint.jurisdiction != jurisdiction:
            problems.append(
                Problem(
                    f"{path}.jurisdiction",
                    f"{endpoint.url} stores samples in {endpoint.jurisdiction}; this stack's metrics stay in "
                    f"{jurisdiction} (allowed: {jurisdiction})",
                )
            )
        regions = JURISDICTIONS[jurisdiction].aws_regions
        if endpoint.region is not None and endpoint.region not in regions:
            problems.append(
                Problem(
                    f"{path}.region",
                    f"{endpoint.region} is outside {jurisdiction}; allowed: {', '.join(sorted(regions))}",
                )
            )
        if endpoint.region is not None and f".{endpoint.region}." not in f".{endpoint.host}.":
            problems.append(Problem(f"{path}.url", f"host {endpoint.host} is not in region {endpoint.region}"))
    if metrics.retention_bytes() >= metrics.storage_bytes():
        problems.append(
            Problem(
                f"{base}.retentionSize",
                f"{metrics.retention_size} does not fit the {metrics.storage_size} volume (storageSize): the WAL "
                "and compaction need room beyond it; allowed: below storageSize",
            )
        )
    if kind == "onprem" and metrics.storage_class is None:
        problems.append(
            Problem(f"{base}.storageClass", "required on-prem: the StorageClass (encrypted) of Prometheus' volume")
        )
    if kind == "aws" and metrics.node_selector:
        problems.append(
            Problem(f"{base}.nodeSelector", "not allowed on AWS: the platform's pods run on the system node group")
        )
    if kind == "aws" and metrics.storage_class is not None:
        problems.append(
            Problem(
                f"{base}.storageClass",
                "not allowed on AWS: Prometheus uses the stack's EBS gp3 class encrypted with the stack key",
            )
        )
    return problems
