"""Typed stack configuration: every key a stack may set, its default and what is allowed.

Field aliases are the config key names users write in ``Pulumi.<stack>.yaml``, so that a
validation error can name the exact key path (``hybrid-llm-infra:network.azCount``).
Defaults live here and nowhere else.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from residency import JURISDICTIONS
from stackconfig.aws_cluster import (
    MAX_EXPOSED_MODELS,
    AwsInferenceServiceConfig,
    EksConfig,
    EndpointsConfig,
    GpuNodePools,
    GpuPlacementConfig,
    ModelBucketConfig,
    default_gpu_node_pools,
)
from stackconfig.change_windows import ChangeWindowsConfig
from stackconfig.deploy import AwsDeployRunnerConfig, DeployRunnerConfig
from stackconfig.front_door import FrontDoorConfig
from stackconfig.latency import LatencyConfig
from stackconfig.observability import KedaConfig, MetricsConfig
from stackconfig.onprem_cluster import (
    ContainerDefaults,
    GpuOperatorConfig,
    NamespaceQuota,
    OnPremInferenceServiceConfig,
    PriorityClassesConfig,
    ServiceExposureConfig,
)
from stackconfig.onprem_front_door import OnPremFrontDoorConfig
from stackconfig.types import Cidr, Classification, DnsLabel
from stackconfig.vpn import OnPremVpnGatewayConfig, VpnConfig

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _public_ipv4(value: str) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("not an IPv4 address") from None
    rfc1918 = any(address in ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    if rfc1918 or address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified:
        raise ValueError("must be the site's public address (not RFC 1918, loopback, link-local or multicast)")
    return str(address)


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"CloudWatch Logs allows only {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return value


PublicIPv4 = Annotated[str, AfterValidator(_public_ipv4)]
RetentionDays = Annotated[int, AfterValidator(_retention)]
JurisdictionId = Literal["EU", "UAE"]
assert set(JURISDICTIONS) == {"EU", "UAE"}, "keep JurisdictionId in step with residency.JURISDICTIONS"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class OnPremSitePlan(_Model):
    """The on-prem site in the shared address plan."""

    vpn_gateway_public_ip: PublicIPv4 = Field(
        description="Public IPv4 of the on-prem VPN gateway (the customer gateway)."
    )
    bgp_asn: int = Field(ge=1, le=4294967294, description="BGP ASN of the on-prem side (private ranges recommended).")
    cidrs: list[Cidr] = Field(min_length=1, description="Address ranges of the on-prem networks routed over the VPN.")
    pod_cidr: Cidr = Field(description="On-prem Kubernetes pod CIDR.")
    service_cidr: Cidr = Field(description="On-prem Kubernetes service CIDR.")


class AwsSitePlan(_Model):
    """One AWS region's share of the address plan."""

    vpc_cidr: Cidr = Field(description="The VPC's CIDR block.")
    amazon_side_asn: int = Field(default=64512, ge=64512, le=4294967294, description="ASN of the AWS side of the VPN.")
    tunnel_inside_cidrs: list[Cidr] = Field(
        default_factory=list, description="The /30 inside CIDRs of this site's VPN tunnels (from 169.254.0.0/16)."
    )


class AddressPlan(_Model):
    """The hybrid address plan that every stack shares (project-level config in Pulumi.yaml)."""

    onprem: OnPremSitePlan
    aws_sites: dict[DnsLabel, AwsSitePlan] = Field(min_length=1, description="AWS sites by name (e.g. frankfurt).")


class Deployment(_Model):
    """What this stack is: an AWS region or the on-prem site, in which jurisdiction, owned by whom."""

    kind: Literal["aws", "onprem"] = Field(description="aws: an AWS region; onprem: the on-prem Kubernetes cluster.")
    site: DnsLabel = Field(description="For aws, the name of this site in addressPlan.awsSites.")
    jurisdiction: JurisdictionId = Field(description="Jurisdiction whose law governs this stack's data.")
    environment: DnsLabel = Field(default="production", description="Environment tag value.")
    owner: str = Field(min_length=1, description="Owner tag value (a team).")
    cost_center: str = Field(min_length=1, description="Cost-center tag value.")
    data_classification: Classification | None = Field(
        default=None,
        description="Highest classification this stack handles (default: confidential on AWS, restricted on-prem).",
    )


class NetworkConfig(_Model):
    """The regional network of an AWS stack."""

    az_count: int = Field(default=3, ge=2, le=6, description="How many availability zones to spread subnets over.")
    private_subnet_prefix: int = Field(default=19, ge=16, le=28, description="Prefix length of each private subnet.")
    public_subnet_prefix: int = Field(
        default=24, ge=16, le=28, description="Prefix length of each public (NAT) subnet."
    )
    nat_gateway_per_az: bool = Field(default=True, description="One NAT gateway per AZ (true) or one shared (false).")
    flow_log_retention_days: RetentionDays = Field(default=365, description="Retention of VPC flow logs, in days.")


class KubernetesConfig(_Model):
    """How the on-prem stack reaches its cluster."""

    context: str = Field(min_length=1, description="kubeconfig context of the on-prem cluster.")
    version: str = Field(default="1.31", pattern=r"^1\.\d{2}$", description="Kubernetes minor version of the cluster.")
    namespaces: list[DnsLabel] = Field(
        default_factory=lambda: ["inference"], min_length=1, description="Namespaces for restricted-data workloads."
    )
    gpu_operator: GpuOperatorConfig = Field(default_factory=GpuOperatorConfig, description="NVIDIA GPU Operator.")
    vpn_gateway_namespace: DnsLabel | None = Field(
        default="vpn-gateway", description="Privileged namespace of the VPN gateway (null: none on this cluster)."
    )
    quotas: dict[DnsLabel, NamespaceQuota] = Field(
        default_factory=dict, description="ResourceQuota per inference namespace (unlisted: the defaults)."
    )
    container_defaults: ContainerDefaults = Field(
        default_factory=ContainerDefaults, description="LimitRange of the inference namespaces."
    )
    priority_classes: PriorityClassesConfig = Field(default_factory=PriorityClassesConfig)
    models: list[OnPremInferenceServiceConfig] = Field(
        default_factory=list, description="Models served on-prem (restricted data is served only here)."
    )
    service_exposure: ServiceExposureConfig = Field(
        default_factory=ServiceExposureConfig,
        description="Service type (and load-balancer class) of models exposed beyond the cluster.",
    )


class _StackBase(_Model):
    address_plan: AddressPlan
    deployment: Deployment
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="The cluster's Prometheus stack (kube-prometheus-stack)."
    )
    keda: KedaConfig = Field(default_factory=KedaConfig, description="KEDA, which scales the models on their queue.")
    latency: LatencyConfig = Field(
        default_factory=LatencyConfig, description="Markets and budgets, site locations, per-model SLOs (project)."
    )
    change_windows: ChangeWindowsConfig | None = Field(
        default=None, description="When this stack may be deployed, in its site's time zone (none: any time)."
    )


class AwsStackConfig(_StackBase):
    """A stack that deploys into one AWS region."""

    aws_region: str = Field(alias="aws:region", description="The AWS region (aws:region).")
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    eks: EksConfig = Field(description="The EKS control plane (adminPrincipalArns is required).")
    deploy_runner: AwsDeployRunnerConfig = Field(
        description="The self-hosted runner that previews and deploys this stack, and its public egress."
    )
    gpu_node_pools: GpuNodePools = Field(
        default_factory=default_gpu_node_pools, min_length=1, description="Karpenter NodePools of GPU nodes."
    )
    gpu_placement: GpuPlacementConfig = Field(default_factory=GpuPlacementConfig)
    model_bucket: ModelBucketConfig = Field(default_factory=ModelBucketConfig)
    inference: list[AwsInferenceServiceConfig] = Field(
        default_factory=list, description="Models served on the GPU nodes, from the model bucket."
    )
    vpn: VpnConfig = Field(default_factory=VpnConfig, description="Site-to-site VPN to the on-prem gateway.")
    endpoints: EndpointsConfig = Field(
        default_factory=EndpointsConfig, description="Internal NLBs and private DNS of models exposed to on-prem."
    )
    front_door: FrontDoorConfig | None = Field(
        default=None, description="The jurisdiction's public hostname (failover inside the jurisdiction)."
    )

    @field_validator("inference")
    @classmethod
    def _exposed_fit(cls, models: list[AwsInferenceServiceConfig]) -> list[AwsInferenceServiceConfig]:
        exposed = [m.name for m in models if m.expose_to_onprem]
        if len(exposed) > MAX_EXPOSED_MODELS:
            raise ValueError(
                f"{len(exposed)} models have exposeToOnprem; a site has addresses for {MAX_EXPOSED_MODELS}"
            )
        return models

    @property
    def site_plan(self) -> AwsSitePlan:
        return self.address_plan.aws_sites[self.deployment.site]

    @property
    def classification(self) -> str:
        return self.deployment.data_classification or "confidential"


class OnPremStackConfig(_StackBase):
    """The stack that deploys onto the on-prem Kubernetes cluster."""

    kubernetes: KubernetesConfig
    peer_stacks: list[str] = Field(
        default_factory=list, description="AWS stacks whose outputs this stack reads (stack names, e.g. frankfurt)."
    )
    vpn_gateway: OnPremVpnGatewayConfig = Field(
        default_factory=OnPremVpnGatewayConfig, description="The strongSwan gateway to the AWS stacks' VPNs."
    )
    deploy_runner: DeployRunnerConfig = Field(
        description="The runner inside the site network (with the kubeconfig context) that deploys this stack."
    )
    front_door: OnPremFrontDoorConfig | None = Field(
        default=None, description="The site's public entry: the secondary of its jurisdiction's hostname."
    )

    @property
    def classification(self) -> str:
        return self.deployment.data_classification or "restricted"


StackConfig = AwsStackConfig | OnPremStackConfig
