"""What an InferenceService is given: the model source, the exposure, resources and scaling, with the
platform's fixed port, uid and pinned default image."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from components.model_scaling import QueueScaling, Scraper

PORT = 8000
RUN_AS_UID = 10001
"""Fixed non-root uid/gid of every container (the vLLM image runs as root by default)."""
DEFAULT_IMAGE = "vllm/vllm-openai:v0.11.0@sha256:014a95f21c9edf6abe0aea6b07353f96baa4ec291c427bb1176dc7c93a85845c"
"""The digest containerd resolved for vllm/vllm-openai:v0.11.0 (Image ID in vllm-project/vllm#28125)."""
MODEL_DIR = "/models"
GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_GPU_TAINT = ("nvidia.com/gpu", "true", "NoSchedule")
DEFAULT_GPU_NODE_LABELS: Mapping[str, str] = {"nvidia.com/gpu.present": "true"}


# Never reachable through the public-HTTPS egress rule: the cluster's own and peered networks.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10")


@dataclass(frozen=True)
class ObjectStoreModel:
    """Weights under an ``s3://`` URI, streamed by vLLM (``--load-format runai_streamer``)."""

    uri: str
    endpoint: str | None = None
    """S3-compatible endpoint (on-prem); None for AWS S3."""
    credentials_secret: str | None = None
    """Secret whose key ``credentials`` is an AWS shared-credentials file (``[default]`` profile), mounted read-only
    and named by AWS_SHARED_CREDENTIALS_FILE; None when the pod identity grants access."""
    region: str | None = None
    """Signing region of the bucket; without it requests are signed for us-east-1 and a regional bucket refuses them."""
    public_https_egress: bool = False
    """Allow HTTPS to public addresses: AWS S3 has no fixed address range a NetworkPolicy could name (the S3
    gateway endpoint routes by prefix list), so on EKS the pods need it to stream weights. Keep it off on-prem."""


@dataclass(frozen=True)
class PvcModel:
    """Weights on an existing PersistentVolumeClaim, mounted read-only."""

    claim_name: str
    sub_path: str = ""


@dataclass(frozen=True)
class RegistryModel:
    """Weights in an OCI image: an init container copies them into a pod-local emptyDir."""

    image: str
    pull_secret: str
    path: str = "/model"
    size_limit: str = "200Gi"


ModelSourceArgs = ObjectStoreModel | PvcModel | RegistryModel


@dataclass(frozen=True)
class ServiceExposure:
    """The Service reachable from outside the cluster, and who may call through it."""

    type: str
    """``LoadBalancer`` or ``NodePort``."""
    caller_cidrs: Sequence[str]
    """Source addresses the pods see from outside callers: admitted (ipBlock) on the API port only."""
    load_balancer_class: str | None = None
    annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    source_ranges: Sequence[str] = ()
    """``spec.loadBalancerSourceRanges`` (kube-proxy filters them for LoadBalancer Services)."""
    external_traffic_policy: str | None = "Local"
    """``Local`` keeps the caller's address (with ``Cluster`` kube-proxy SNATs it to a node's, which the
    NetworkPolicy could not tell apart from on-prem callers); None where no node forwards (NLB IP targets)."""
    allocate_node_ports: bool = True
    """False for a load balancer that targets pods directly (no NodePort needed)."""

    def __post_init__(self) -> None:
        if self.type not in ("LoadBalancer", "NodePort"):
            raise ValueError("type must be LoadBalancer or NodePort")
        if self.load_balancer_class and self.type != "LoadBalancer":
            raise ValueError("load_balancer_class needs type LoadBalancer")
        if not self.caller_cidrs:
            raise ValueError("an exposed Service needs caller CIDRs")


@dataclass(frozen=True)
class InferenceServiceArgs:
    """Inputs of InferenceService. Only ``namespace``, ``served_model_name``, ``model`` and ``client_namespaces``
    are required; the rest have working defaults."""

    namespace: str
    served_model_name: str
    model: ModelSourceArgs
    client_namespaces: Sequence[str]
    """Namespaces whose pods may reach the service on its port; no other ingress is admitted."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Residency and classification labels, put on every object and pod."""
    image: str = DEFAULT_IMAGE
    gpus: int = 1
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    extra_args: Sequence[str] = ()
    cpu_request: str = "4"
    cpu_limit: str = "8"
    memory_request: str = "32Gi"
    memory_limit: str = "48Gi"
    shm_size: str = "16Gi"
    min_replicas: int = 1
    max_replicas: int = 2
    queue_threshold: float = 5
    """Waiting requests per replica KEDA scales towards (``vllm:num_requests_waiting`` of this model)."""
    fallback_replicas: int = 1
    polling_interval_seconds: int = 15
    cooldown_seconds: int | None = None
    """Seconds without load before scaling down (None: ``startup_timeout_seconds``); never shorter than it."""
    scraper: Scraper | None = None
    """The cluster's Prometheus: a PodMonitor, the NetworkPolicy admitting it and a KEDA ScaledObject reading the
    queue from it. None: neither, and the Deployment runs ``min_replicas`` (tests of the pods alone)."""
    custom_resources_wait_for: Sequence[pulumi.Resource] = ()
    """The releases that install the ScaledObject and PodMonitor CRDs (KEDA, kube-prometheus-stack)."""
    scrape_interval: str = "15s"
    egress: Sequence[tuple[str, int]] = ()
    """(CIDR, TCP port) the pods may reach besides cluster DNS, e.g. the object store."""
    priority_class_name: str | None = None
    startup_timeout_seconds: int = 1800
    api_key_secret: str | None = None
    """Secret whose key ``api-key`` vLLM requires as the bearer token."""
    gpu_node_labels: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_GPU_NODE_LABELS))
    """Node labels a GPU node has (required node affinity)."""
    gpu_taint: tuple[str, str, str] = DEFAULT_GPU_TAINT
    """(key, value, effect) of the taint GPU nodes carry; tolerated."""
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)
    """E.g. ``eks.amazonaws.com/role-arn`` for S3 access through IRSA."""
    exposure: ServiceExposure | None = None
    """None: ClusterIP, reachable only from ``client_namespaces``."""
    pods_wait_for: Sequence[pulumi.Resource] = ()
    """What the pods need before they start, e.g. their EKS Pod Identity association (a pod started before it
    exists runs without credentials until recreated): the Deployment depends on each."""

    def __post_init__(self) -> None:
        if self.gpus < 1:
            raise ValueError("gpus must be >= 1")
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 1 <= min_replicas <= max_replicas")
        if self.cooldown_seconds is not None and self.cooldown_seconds < self.startup_timeout_seconds:
            raise ValueError("cooldown_seconds must be >= startup_timeout_seconds")
        if not self.client_namespaces:
            raise ValueError("client_namespaces must name at least one namespace")
        if self.scraper is not None:
            _ = self.scaling  # QueueScaling checks threshold and fallback replicas

    @property
    def scaling(self) -> QueueScaling:
        return QueueScaling(
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            threshold=self.queue_threshold,
            fallback_replicas=self.fallback_replicas,
            polling_interval_seconds=self.polling_interval_seconds,
            cooldown_seconds=self.cooldown_seconds or self.startup_timeout_seconds,
        )
