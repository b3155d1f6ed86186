"""Config of an AWS stack's GPU inference cluster: EKS, node groups, GPU placement, model bucket.

Instance types are checked against a table kept here (NVIDIA GPU instance types the
``AL2023_x86_64_NVIDIA`` AMI runs on, with their GPU count), not against the tool's moto
data: config is imported by the real program under the Pulumi CLI, so it stays pydantic +
stdlib, and "is an x86 NVIDIA GPU type with N GPUs" is what the node group needs to know —
a bare list of every instance type would accept ``m5.large``. A test keeps the table honest
against moto's recorded DescribeInstanceTypes data (manufacturer, architecture, GPU count).
Defaults live here and nowhere else.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from stackconfig.helm import HelmChartConfig
from stackconfig.inference import InferenceServiceConfig

# EKS Kubernetes versions this project is tested against (standard support).
SUPPORTED_KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33")
DEFAULT_KUBERNETES_VERSION = "1.33"

# Managed EKS add-ons and their pinned version per Kubernetes version: the "latest version of the Amazon EKS
# add-on type" tables of the EKS user guide (managing-vpc-cni, managing-coredns, managing-kube-proxy,
# pod-id-agent-setup); `aws eks describe-addon-versions --kubernetes-version X --addon-name Y` lists the rest.
EKS_ADDONS = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent")
EKS_ADDON_VERSIONS: dict[str, dict[str, str]] = {
    "1.31": {
        "vpc-cni": "v1.20.1-eksbuild.3",
        "kube-proxy": "v1.31.13-eksbuild.2",
        "coredns": "v1.11.4-eksbuild.24",
        "eks-pod-identity-agent": "v1.3.4-eksbuild.1",
    },
    "1.32": {
        "vpc-cni": "v1.20.1-eksbuild.3",
        "kube-proxy": "v1.32.9-eksbuild.2",
        "coredns": "v1.11.4-eksbuild.24",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
    },
    "1.33": {
        "vpc-cni": "v1.20.1-eksbuild.3",
        "kube-proxy": "v1.33.5-eksbuild.2",
        "coredns": "v1.12.4-eksbuild.1",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
    },
}
assert set(EKS_ADDON_VERSIONS) == set(SUPPORTED_KUBERNETES_VERSIONS)
_ADDON_VERSION = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")

DEVICE_PLUGIN_REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
DEVICE_PLUGIN_VERSION = "0.17.1"

# The AWS Load Balancer Controller's chart (aws/eks-charts); chart 1.17.1 is controller v2.17.1, whose IAM policy is
# vendored in components/aws_lbc_iam_policy.json.
LOAD_BALANCER_CONTROLLER_REPOSITORY = "https://aws.github.io/eks-charts"
LOAD_BALANCER_CONTROLLER_CHART = "aws-load-balancer-controller"
LOAD_BALANCER_CONTROLLER_VERSION = "1.17.1"
MAX_EXPOSED_MODELS = 14
"""Exposed models per site: each NLB takes one address per zone from the /28 reserved in each private subnet, whose
last two addresses are the Resolver inbound endpoint's (stacks/endpoints.py)."""


def _sizes(family: str, counts: dict[str, int]) -> dict[str, int]:
    return {f"{family}.{size}": gpus for size, gpus in counts.items()}


_G_SIZES = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4}

# NVIDIA GPU instance types (x86_64) and GPUs per instance.
NVIDIA_GPU_INSTANCE_TYPES: dict[str, int] = {
    **_sizes("g4dn", {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4}),
    **_sizes("g5", {**_G_SIZES, "48xlarge": 8}),
    **_sizes("g6", {**_G_SIZES, "48xlarge": 8}),
    **_sizes("g6e", {**_G_SIZES, "48xlarge": 8}),
    **_sizes("gr6", {"4xlarge": 1, "8xlarge": 1}),
    "p4d.24xlarge": 8,
    "p4de.24xlarge": 8,
    "p5.4xlarge": 1,
    "p5.48xlarge": 8,
    "p5e.48xlarge": 8,
    "p5en.48xlarge": 8,
}


def _k8s_version(value: str) -> str:
    if value not in SUPPORTED_KUBERNETES_VERSIONS:
        raise ValueError(f"unsupported Kubernetes version; allowed: {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}")
    return value


def _gpu_instance_type(value: str) -> str:
    if value not in NVIDIA_GPU_INSTANCE_TYPES:
        families = sorted({t.split(".")[0] for t in NVIDIA_GPU_INSTANCE_TYPES})
        raise ValueError(
            f"unknown GPU instance type; allowed: NVIDIA x86_64 types of the families {', '.join(families)} "
            f"(e.g. g6e.2xlarge)"
        )
    return value


def _instance_type(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9-]+", value):
        raise ValueError("not an EC2 instance type (e.g. m6i.large)")
    return value


def _public_cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not an IPv4 CIDR block with host bits zero: {exc}") from None
    if network.prefixlen == 0:
        raise ValueError("0.0.0.0/0 opens the API endpoint to the internet; list the admin networks instead")
    return str(network)


def _az_id(value: str) -> str:
    if not re.fullmatch(r"[a-z]{2,5}[0-9]-az[0-9]+", value):
        raise ValueError("not an availability-zone id (e.g. mec1-az3)")
    return value


def _iam_principal(value: str) -> str:
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+", value):
        raise ValueError("not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)")
    return value


def _dns_label(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", value):
        raise ValueError("must be lowercase letters, digits and '-', at most 32 characters")
    return value


KubernetesVersion = Annotated[str, AfterValidator(_k8s_version)]
GpuInstanceType = Annotated[str, AfterValidator(_gpu_instance_type)]
InstanceType = Annotated[str, AfterValidator(_instance_type)]
PublicCidr = Annotated[str, AfterValidator(_public_cidr)]
AzId = Annotated[str, AfterValidator(_az_id)]
IamPrincipalArn = Annotated[str, AfterValidator(_iam_principal)]
GroupName = Annotated[str, AfterValidator(_dns_label)]

# CloudWatch Logs retention periods this module allows for control-plane logs (bounded: no "never expire").
CONTROL_PLANE_LOG_RETENTION_DAYS = (7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)


def _log_retention(value: int) -> int:
    if value not in CONTROL_PLANE_LOG_RETENTION_DAYS:
        raise ValueError(f"allowed: {', '.join(map(str, CONTROL_PLANE_LOG_RETENTION_DAYS))}")
    return value


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class _Scaling(_Model):
    min_size: int = Field(default=1, ge=0, le=100, description="Fewest nodes.")
    desired_size: int = Field(default=1, ge=0, le=100, description="Nodes at creation (the autoscaler moves it).")
    max_size: int = Field(default=2, ge=0, le=100, description="Most nodes.")
    disk_size_gib: int = Field(default=100, ge=20, le=16384, description="Encrypted gp3 root volume, GiB.")

    @field_validator("max_size")
    @classmethod
    def _ordered(cls, max_size: int, info: ValidationInfo) -> int:
        low, desired = info.data.get("min_size"), info.data.get("desired_size")
        if low is not None and desired is not None and not low <= desired <= max_size:
            raise ValueError(f"need minSize <= desiredSize <= maxSize (got {low} <= {desired} <= {max_size})")
        return max_size


class SystemNodeGroupConfig(_Scaling):
    """The CPU node group for system add-ons (CoreDNS, device plugin, pod identity agent)."""

    instance_types: list[InstanceType] = Field(default_factory=lambda: ["m6i.large"], min_length=1)
    min_size: int = Field(default=2, ge=1, le=20)
    desired_size: int = Field(default=2, ge=1, le=20)
    max_size: int = Field(default=4, ge=1, le=20)
    disk_size_gib: int = Field(default=50, ge=20, le=1024)


class GpuNodeGroupConfig(_Scaling):
    """One GPU managed node group; it spans every private subnet whose AZ offers its instance type."""

    name: GroupName = Field(description="Short name of the group (part of resource names).")
    instance_type: GpuInstanceType = Field(description="NVIDIA GPU instance type, e.g. g6e.2xlarge.")
    gpu_count: int | None = Field(
        default=None, ge=0, le=8, description="GPUs per node (default: all the instance type has)."
    )
    min_size: int = Field(default=0, ge=0, le=100)
    desired_size: int = Field(default=1, ge=0, le=100)
    max_size: int = Field(default=2, ge=0, le=100)
    disk_size_gib: int = Field(default=200, ge=50, le=16384)
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(default="ON_DEMAND")

    @field_validator("gpu_count")
    @classmethod
    def _gpus(cls, gpu_count: int | None, info: ValidationInfo) -> int | None:
        instance_type, max_size = info.data.get("instance_type"), info.data.get("max_size")
        if gpu_count == 0 and max_size:
            raise ValueError("0 GPUs per node with maxSize > 0: a GPU node group needs GPUs (or set maxSize 0)")
        has = NVIDIA_GPU_INSTANCE_TYPES.get(instance_type or "")
        if gpu_count is not None and has is not None and gpu_count > has:
            raise ValueError(f"{gpu_count} exceeds the {has} GPU(s) of {instance_type}")
        return gpu_count

    @property
    def gpus_per_node(self) -> int:
        return NVIDIA_GPU_INSTANCE_TYPES[self.instance_type] if self.gpu_count is None else self.gpu_count


def default_device_plugin() -> HelmChartConfig:
    return HelmChartConfig(
        repository=DEVICE_PLUGIN_REPOSITORY, chart=DEVICE_PLUGIN_CHART, version=DEVICE_PLUGIN_VERSION
    )


def default_load_balancer_controller() -> HelmChartConfig:
    return HelmChartConfig(
        repository=LOAD_BALANCER_CONTROLLER_REPOSITORY,
        chart=LOAD_BALANCER_CONTROLLER_CHART,
        version=LOAD_BALANCER_CONTROLLER_VERSION,
    )


def _zone_name(value: str) -> str:
    labels = value.rstrip(".").split(".")
    if len(labels) < 2 or not all(re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", label) for label in labels):
        raise ValueError("must be a DNS name of at least two lowercase labels (e.g. frankfurt.models.internal)")
    return value.rstrip(".")


class EndpointsConfig(_Model):
    """Private, stable addresses of the models exposed to on-prem callers (internal NLBs, private DNS)."""

    load_balancer_controller: HelmChartConfig = Field(
        default_factory=default_load_balancer_controller,
        description="AWS Load Balancer Controller chart (repository may be a mirror).",
    )
    private_zone: Annotated[str, AfterValidator(_zone_name)] | None = Field(
        default=None, description="Route 53 private hosted zone of the models (default: <site>.models.internal)."
    )

    def zone_name(self, site: str) -> str:
        return self.private_zone or f"{site}.models.internal"


class EksConfig(_Model):
    """The EKS control plane."""

    kubernetes_version: KubernetesVersion = Field(default=DEFAULT_KUBERNETES_VERSION)
    public_access_cidrs: list[PublicCidr] = Field(
        default_factory=list,
        description="Networks besides deployRunner.egressCidrs that may reach the public API endpoint (e.g. the "
        "admins' VPN egress); never 0.0.0.0/0.",
    )
    log_retention_days: LogRetentionDays = Field(default=365, description="Control-plane log retention, days.")
    admin_principal_arns: list[IamPrincipalArn] = Field(
        min_length=1,
        description="IAM roles/users given cluster-admin through access entries; the only admins (the cluster "
        "creator gets no implicit access), so the role the deploy workflow assumes must be listed.",
    )
    system_node_group: SystemNodeGroupConfig = Field(default_factory=SystemNodeGroupConfig)
    addon_versions: dict[str, str] = Field(
        default_factory=dict,
        description=f"Override the pinned version of a managed add-on ({', '.join(EKS_ADDONS)}).",
    )
    device_plugin: HelmChartConfig = Field(
        default_factory=default_device_plugin, description="NVIDIA device plugin chart (repository may be a mirror)."
    )
    autoscaling_service_linked_role: Literal["create", "existing"] = Field(
        default="create",
        description="AWSServiceRoleForAutoScaling, which the stack key's policy names: create it, or use the one "
        "the account already has (IAM is global: only one stack per account may create it).",
    )

    @field_validator("admin_principal_arns")
    @classmethod
    def _unique_admins(cls, arns: list[str]) -> list[str]:
        if len(set(arns)) != len(arns):
            raise ValueError(f"duplicate principals in {arns}")
        return arns

    @field_validator("addon_versions")
    @classmethod
    def _addon_versions(cls, versions: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for name, version in versions.items():
            if name not in EKS_ADDONS:
                raise ValueError(f"unknown add-on {name!r}; allowed: {', '.join(EKS_ADDONS)}")
            if not _ADDON_VERSION.fullmatch(version):
                raise ValueError(f"{name}: {version!r} is not an EKS add-on version (e.g. v1.20.1-eksbuild.3)")
        kubernetes = info.data.get("kubernetes_version")
        proxy = versions.get("kube-proxy")
        if kubernetes and proxy and not proxy.startswith(f"v{kubernetes}."):
            raise ValueError(f"kube-proxy {proxy} must match the cluster's Kubernetes version {kubernetes}")
        return versions

    def addon_version(self, name: str) -> str:
        return self.addon_versions.get(name) or EKS_ADDON_VERSIONS[self.kubernetes_version][name]


class GpuPlacementConfig(_Model):
    """Where GPU nodes may run: zones that offer the instance type, minus excluded ones."""

    excluded_az_ids: list[AzId] = Field(default_factory=list, description="AZ ids to keep GPU nodes out of.")
    min_azs: int = Field(default=2, ge=1, le=6, description="Fewest AZs each GPU node group must span.")


class ModelBucketConfig(_Model):
    """The model artifact bucket."""

    noncurrent_version_expiration_days: int = Field(default=30, ge=1, le=3650)
    abort_incomplete_upload_days: int = Field(default=7, ge=1, le=365)
    access_log_retention_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="Days the CloudTrail records of reads and writes of model objects are kept (bounded: never "
        "kept forever).",
    )


def default_gpu_node_groups() -> list[GpuNodeGroupConfig]:
    return [GpuNodeGroupConfig(name="gpu", instance_type="g6e.2xlarge")]


def _unique_names(groups: list[GpuNodeGroupConfig]) -> list[GpuNodeGroupConfig]:
    names = [g.name for g in groups]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"GPU node group names must be unique (repeated: {', '.join(duplicates)})")
    return groups


GpuNodeGroups = Annotated[list[GpuNodeGroupConfig], AfterValidator(_unique_names)]


class ModelBucketSource(_Model):
    """Weights under a prefix of the stack's model bucket, streamed by vLLM with the pod's identity."""

    kind: Literal["modelBucket"]
    prefix: str = Field(
        pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", description="Key prefix of the model directory."
    )


class AwsInferenceServiceConfig(InferenceServiceConfig):
    """A model served on the AWS GPU nodes; its weights come only from the stack's model bucket."""

    model_source: ModelBucketSource  # type: ignore[assignment]
    expose_to_onprem: bool = Field(
        default=False,
        description="Give the model an internal NLB and a private DNS name that the on-prem networks reach over the VPN.",
    )

    @field_validator("data_classification")
    @classmethod
    def _not_restricted(cls, value: str | None) -> str | None:
        if value == "restricted":
            raise ValueError("restricted data stays on-prem; allowed on AWS: public, internal, confidential")
        return value
