"""Config of an AWS stack's GPU inference cluster: EKS, system node group, GPU node pools, placement, model bucket.

Instance types are checked against a table kept here (NVIDIA GPU instance types the
``AL2023_x86_64_NVIDIA`` AMI runs on, with their GPU count), not against the tool's moto
data: config is imported by the real program under the Pulumi CLI, so it stays pydantic +
stdlib, and "is an x86 NVIDIA GPU type with N GPUs" is what a GPU node pool needs to know —
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
NVIDIA_GPU_FAMILIES = tuple(sorted({t.split(".")[0] for t in NVIDIA_GPU_INSTANCE_TYPES}))

# Karpenter (aws/karpenter-provider-aws): chart 1.14.1 from the OCI registry of its getting-started guide (v1.14
# docs: `helm upgrade karpenter oci://public.ecr.aws/karpenter/karpenter --version 1.14.1`); its crds/ holds the
# karpenter.sh/v1 NodePool and karpenter.k8s.aws/v1 EC2NodeClass CRDs vendored in schemas/crds/.
KARPENTER_REPOSITORY = "oci://public.ecr.aws/karpenter"
KARPENTER_CHART = "karpenter"
KARPENTER_VERSION = "1.14.1"
# An EKS AMI release (awslabs/amazon-eks-ami v20260520): Karpenter's own e2e AMI suite launches
# amazon-eks-node-al2023-x86_64-standard-<k8s>-v20260520 for every Kubernetes version of its matrix (1.30-1.36).
KARPENTER_AMI_ALIAS = "al2023@v20260520"


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


CapacityType = Literal["on-demand", "spot"]


def _on_demand() -> list[CapacityType]:
    return ["on-demand"]


def _gpu_family(value: str) -> str:
    if value not in NVIDIA_GPU_FAMILIES:
        raise ValueError(
            f"{value!r} is not an instance family with NVIDIA GPUs (x86_64); allowed: {', '.join(NVIDIA_GPU_FAMILIES)}"
        )
    return value


GpuFamily = Annotated[str, AfterValidator(_gpu_family)]


class GpuNodePoolConfig(_Model):
    """One Karpenter NodePool of GPU nodes (with its EC2NodeClass); nodes come and go with pending GPU pods."""

    name: GroupName = Field(description="Short name of the pool (NodePool gpu-<name>, part of resource names).")
    instance_types: list[GpuInstanceType] = Field(
        default_factory=list, description="NVIDIA GPU instance types, e.g. g6e.2xlarge."
    )
    instance_families: list[GpuFamily] = Field(
        default_factory=list,
        validate_default=True,  # so that a pool with neither types nor families is refused here
        description="NVIDIA GPU instance families, e.g. g6e: every size of the family in NVIDIA_GPU_INSTANCE_TYPES.",
    )
    capacity_types: list[CapacityType] = Field(
        default_factory=_on_demand, min_length=1, description="Karpenter capacity types: on-demand, spot."
    )
    gpu_limit: int = Field(
        ge=1,
        le=1024,
        description="Most nvidia.com/gpu the pool may run in total (the NodePool's limits): required, a runaway "
        "scale-up is a cost and capacity incident.",
    )
    disk_size_gib: int = Field(default=200, ge=50, le=16384, description="Encrypted gp3 root volume, GiB.")
    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = Field(
        default="WhenEmpty",
        description="WhenEmpty removes only nodes without pods: a running model is never moved to save cost.",
    )
    consolidate_after_seconds: int | None = Field(
        default=None,
        ge=0,
        le=86400,
        description="How long a node must stay untouched before consolidation (default: the longest "
        "startupTimeoutSeconds of the stack's models); never shorter than a model's start-up time.",
    )
    disruption_budget_nodes: str = Field(
        default="1",
        pattern=r"^((100|[0-9]{1,2})%|[0-9]+)$",
        description="Most nodes of the pool Karpenter may disrupt at once (a count or a percentage).",
    )
    expire_after: str = Field(
        default="Never",
        pattern=r"^(([0-9]+(s|m|h))+|Never)$",
        description="Node lifetime before Karpenter replaces it (Never: nodes are replaced only by drift, e.g. a new "
        "eks.karpenter.amiAlias).",
    )

    @field_validator("instance_families")
    @classmethod
    def _some_types(cls, families: list[str], info: ValidationInfo) -> list[str]:
        # instance_types absent from info.data: it failed its own validation, which already says why.
        if not families and "instance_types" in info.data and not info.data["instance_types"]:
            raise ValueError("set instanceTypes or instanceFamilies (or both): the pool needs GPU instance types")
        return families

    @field_validator("gpu_limit")
    @classmethod
    def _limit_fits_a_node(cls, limit: int, info: ValidationInfo) -> int:
        types = expand_types(info.data.get("instance_types") or [], info.data.get("instance_families") or [])
        too_big = sorted(t for t in types if NVIDIA_GPU_INSTANCE_TYPES[t] > limit)
        if too_big:
            most = max(NVIDIA_GPU_INSTANCE_TYPES[t] for t in too_big)
            raise ValueError(
                f"{limit} is below the {most} GPUs of one {', '.join(too_big)} node: Karpenter could never launch "
                f"it; raise gpuLimit to at least {most} or drop those types"
            )
        return limit

    @property
    def resolved_instance_types(self) -> list[str]:
        """Every instance type the pool may launch (listed types and every size of the listed families)."""
        return expand_types(self.instance_types, self.instance_families)

    @property
    def most_gpus_per_node(self) -> int:
        return max(NVIDIA_GPU_INSTANCE_TYPES[t] for t in self.resolved_instance_types)


def expand_types(types: list[str], families: list[str]) -> list[str]:
    """``types`` plus every NVIDIA type of ``families``, sorted, without repeats."""
    from_families = [t for t in NVIDIA_GPU_INSTANCE_TYPES if t.split(".")[0] in families]
    return sorted({*(t for t in types if t in NVIDIA_GPU_INSTANCE_TYPES), *from_families})


AMI_ALIAS_PATTERN = r"^al2023@v\d{8}$"


class KarpenterConfig(_Model):
    """The Karpenter controller (chart) and the AMI of the nodes it launches."""

    chart: HelmChartConfig = Field(
        default_factory=lambda: default_karpenter_chart(),
        description="Karpenter chart (OCI registry; a mirror works the same way); its crds/ installs the CRDs.",
    )
    ami_alias: str = Field(
        default=KARPENTER_AMI_ALIAS,
        pattern=AMI_ALIAS_PATTERN,
        description="EC2NodeClass amiSelectorTerms alias, pinned to an EKS AMI release (al2023@vYYYYMMDD); Karpenter "
        "picks the NVIDIA variant of that release for GPU types.",
    )


def default_device_plugin() -> HelmChartConfig:
    return HelmChartConfig(
        repository=DEVICE_PLUGIN_REPOSITORY, chart=DEVICE_PLUGIN_CHART, version=DEVICE_PLUGIN_VERSION
    )


def default_karpenter_chart() -> HelmChartConfig:
    return HelmChartConfig(repository=KARPENTER_REPOSITORY, chart=KARPENTER_CHART, version=KARPENTER_VERSION)


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
    karpenter: KarpenterConfig = Field(
        default_factory=KarpenterConfig, description="Karpenter: the GPU nodes' autoscaler (chart, AMI alias)."
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
    min_azs: int = Field(default=2, ge=1, le=6, description="Fewest AZs each GPU node pool must span.")


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


def default_gpu_node_pools() -> list[GpuNodePoolConfig]:
    return [GpuNodePoolConfig(name="gpu", instance_types=["g6e.2xlarge"], gpu_limit=2)]


def _unique_names(pools: list[GpuNodePoolConfig]) -> list[GpuNodePoolConfig]:
    names = [p.name for p in pools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"GPU node pool names must be unique (repeated: {', '.join(duplicates)})")
    return pools


GpuNodePools = Annotated[list[GpuNodePoolConfig], AfterValidator(_unique_names)]


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
