"""An LLM served with vLLM's OpenAI-compatible server, on any Kubernetes cluster.

The cluster comes through ``opts`` (its Kubernetes provider); the namespace must exist. Every object
carries the residency labels it is given; the pods meet Pod Security Standard "restricted".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import vllm_runtime
from components.model_scaling import (
    POD_MONITOR_API,
    SCALED_OBJECT_API,
    QueueScaling,
    Scraper,
    pod_monitor_spec,
    scaled_object_spec,
    scrape_network_policy_spec,
)

TYPE_TOKEN = "hybrid-llm-infra:inference:InferenceService"
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


class InferenceService(pulumi.ComponentResource):
    """Deployment, Service, ServiceAccount, PDB and NetworkPolicy of one vLLM model server; with a scraper also its
    PodMonitor, the NetworkPolicy admitting Prometheus and the KEDA ScaledObject on its queue."""

    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    service_account: k8s.core.v1.ServiceAccount
    scaled_object: k8s.apiextensions.CustomResource | None
    pod_monitor: k8s.apiextensions.CustomResource | None
    disruption_budget: k8s.policy.v1.PodDisruptionBudget
    network_policy: k8s.networking.v1.NetworkPolicy
    endpoint: pulumi.Output[str]
    """In-cluster base URL of the OpenAI-compatible API (``http://NAME.NAMESPACE.svc.cluster.local:8000/v1``)."""
    load_balancer_hostname: pulumi.Output[str | None]
    """``status.loadBalancer.ingress[0].hostname`` of an exposed Service (pulumi-kubernetes waits for a
    LoadBalancer Service's ingress before it reports the Service created); None otherwise."""

    def __init__(self, name: str, args: InferenceServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        selector = pod_selector(name)
        labels = {
            **args.labels,
            **selector,
            "app.kubernetes.io/component": "inference",
            "app.kubernetes.io/managed-by": "pulumi",
        }

        def meta(suffix: str = "") -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=name + suffix, namespace=args.namespace, labels=labels)

        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=args.namespace,
                labels=labels,
                annotations=dict(args.service_account_annotations) or None,
            ),
            automount_service_account_token=False,
            opts=child,
        )
        self.deployment = k8s.apps.v1.Deployment(
            name,
            metadata=meta(),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # No replicas with a scaler: KEDA's HPA owns the count (a fixed value would fight it on every update).
                replicas=None if args.scraper else args.min_replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                # GPUs are scarce and quota-bound: replace pods one at a time instead of surging.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=0, max_unavailable=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=pod_spec(name, args),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service_account, *args.pods_wait_for]),
        )
        exposure = args.exposure
        self.service = k8s.core.v1.Service(
            f"{name}-svc",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=args.namespace,
                labels=labels,
                annotations=dict(exposure.annotations) if exposure and exposure.annotations else None,
            ),
            spec=service_spec(selector, exposure),
            opts=child,
        )
        self.scaled_object, self.pod_monitor = (None, None)
        if args.scraper is not None:
            self._scaling(name, args, args.scraper, selector, meta)
        self.disruption_budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                # maxUnavailable, not minAvailable: with one replica, minAvailable=1 would block every node drain.
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            ),
            opts=child,
        )
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=meta(),
            spec=network_policy_spec(selector, args),
            opts=child,
        )
        self.endpoint = pulumi.Output.from_input(f"http://{name}.{args.namespace}.svc.cluster.local:{PORT}/v1")
        self.load_balancer_hostname = self.service.status.apply(_ingress_hostname)
        self.register_outputs({"endpoint": self.endpoint, "servedModelName": args.served_model_name})

    def _scaling(
        self,
        name: str,
        args: InferenceServiceArgs,
        scraper: Scraper,
        selector: Mapping[str, str],
        meta: Callable[[str], k8s.meta.v1.ObjectMetaArgs],
    ) -> None:
        """PodMonitor, the scrape NetworkPolicy and the ScaledObject (custom resources after their CRDs' charts)."""
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[self.deployment, *args.custom_resources_wait_for])
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol-metrics",
            metadata=meta("-metrics"),
            spec=scrape_network_policy_spec(selector, PORT, scraper),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.pod_monitor = k8s.apiextensions.CustomResource(
            f"{name}-podmonitor",
            api_version=POD_MONITOR_API,
            kind="PodMonitor",
            metadata=meta(""),
            spec=pod_monitor_spec(selector, args.scrape_interval),
            opts=after_crds,
        )
        self.scaled_object = k8s.apiextensions.CustomResource(
            f"{name}-scaledobject",
            api_version=SCALED_OBJECT_API,
            kind="ScaledObject",
            metadata=meta(""),
            spec=scaled_object_spec(name, args.served_model_name, args.scaling, scraper),
            opts=after_crds,
        )


def pod_selector(name: str) -> dict[str, str]:
    """Labels of one model's pods (its Service and the NetworkPolicies admitting callers select them)."""
    return {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": name}


def service_spec(selector: Mapping[str, str], exposure: ServiceExposure | None) -> k8s.core.v1.ServiceSpecArgs:
    port = k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http", protocol="TCP")
    if exposure is None:
        return k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=dict(selector), ports=[port])
    balanced = exposure.type == "LoadBalancer"
    return k8s.core.v1.ServiceSpecArgs(
        type=exposure.type,
        selector=dict(selector),
        ports=[port],
        load_balancer_class=exposure.load_balancer_class if balanced else None,
        load_balancer_source_ranges=list(exposure.source_ranges) if balanced and exposure.source_ranges else None,
        external_traffic_policy=exposure.external_traffic_policy,
        allocate_load_balancer_node_ports=exposure.allocate_node_ports if balanced else None,
    )


def _ingress_hostname(status: object) -> str | None:
    balancer = getattr(status, "load_balancer", None) if status is not None else None
    ingress = getattr(balancer, "ingress", None) or []
    return getattr(ingress[0], "hostname", None) if ingress else None


def _restricted_security_context() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS_UID,
        run_as_group=RUN_AS_UID,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def _model_location(args: InferenceServiceArgs) -> str:
    model = args.model
    if isinstance(model, ObjectStoreModel):
        return model.uri
    if isinstance(model, PvcModel):
        return f"{MODEL_DIR}/{model.sub_path}".rstrip("/")
    return MODEL_DIR


def vllm_args(args: InferenceServiceArgs) -> list[str]:
    """Arguments of ``python3 -m vllm.entrypoints.openai.api_server``."""
    argv = [
        "--model",
        _model_location(args),
        "--served-model-name",
        args.served_model_name,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--tensor-parallel-size",
        str(args.gpus),
        "--gpu-memory-utilization",
        str(args.gpu_memory_utilization),
    ]
    # Request logging is off by default in vLLM >= 0.10 and stays off: prompts may hold personal data.
    if isinstance(args.model, ObjectStoreModel):
        argv += ["--load-format", "runai_streamer"]
    if args.max_model_len is not None:
        argv += ["--max-model-len", str(args.max_model_len)]
    return argv + list(args.extra_args)


def _env(args: InferenceServiceArgs) -> list[k8s.core.v1.EnvVarArgs]:
    env = {
        # uid 10001 has no passwd entry and the root filesystem is read-only: identity and caches (vllm_runtime).
        **vllm_runtime.cache_env(),
        # Weights come from the configured source only; no calls home.
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    if isinstance(args.model, ObjectStoreModel) and args.model.endpoint:
        env["AWS_ENDPOINT_URL"] = args.model.endpoint
        env["RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING"] = "0"
    if isinstance(args.model, ObjectStoreModel) and args.model.region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = args.model.region
    if isinstance(args.model, ObjectStoreModel) and args.model.credentials_secret:
        env.update(vllm_runtime.credentials_env())
    result = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()]
    if args.api_key_secret:
        result.append(
            k8s.core.v1.EnvVarArgs(
                name="VLLM_API_KEY",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=args.api_key_secret, key="api-key")
                ),
            )
        )
    return result


def pod_spec(name: str, args: InferenceServiceArgs) -> k8s.core.v1.PodSpecArgs:
    """The vLLM pod: GPU limits, GPU toleration and affinity, PSS restricted, writable emptyDirs only."""
    model = args.model
    volumes = vllm_runtime.writable_volumes(args.shm_size)
    mounts = [k8s.core.v1.VolumeMountArgs(name="shm", mount_path="/dev/shm"), *vllm_runtime.home_mounts()]
    init_containers = None
    pull_secrets = None
    if isinstance(model, PvcModel):
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="model",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=model.claim_name, read_only=True
                ),
            )
        )
        mounts.append(k8s.core.v1.VolumeMountArgs(name="model", mount_path=MODEL_DIR, read_only=True))
    elif isinstance(model, RegistryModel):
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="model", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=model.size_limit)
            )
        )
        mounts.append(k8s.core.v1.VolumeMountArgs(name="model", mount_path=MODEL_DIR, read_only=True))
        pull_secrets = [k8s.core.v1.LocalObjectReferenceArgs(name=model.pull_secret)]
        init_containers = [
            k8s.core.v1.ContainerArgs(
                name="fetch-model",
                image=model.image,
                image_pull_policy="IfNotPresent",
                command=["cp", "-R", f"{model.path.rstrip('/')}/.", f"{MODEL_DIR}/"],
                # Same uid without a passwd entry: told who it is and given a writable HOME like the server.
                env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in vllm_runtime.identity_env().items()],
                security_context=_restricted_security_context(),
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests={"cpu": "500m", "memory": "512Mi"}, limits={"cpu": "2", "memory": "1Gi"}
                ),
                volume_mounts=[
                    k8s.core.v1.VolumeMountArgs(name="model", mount_path=MODEL_DIR),
                    *vllm_runtime.home_mounts(),
                ],
            )
        ]
    elif model.credentials_secret:
        # A file, not env: every child process inherits the environment (and logs/dumps of it); a file is read on demand.
        volumes.append(vllm_runtime.credentials_volume(model.credentials_secret))
        mounts.append(vllm_runtime.credentials_mount())

    gpus = str(args.gpus)
    probe_get = k8s.core.v1.HTTPGetActionArgs(path="/health", port="http")
    container = k8s.core.v1.ContainerArgs(
        name="vllm",
        image=args.image,
        image_pull_policy="IfNotPresent",
        command=["python3", "-m", "vllm.entrypoints.openai.api_server"],
        args=vllm_args(args),
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT, protocol="TCP")],
        env=_env(args),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": args.cpu_request, "memory": args.memory_request, GPU_RESOURCE: gpus},
            limits={"cpu": args.cpu_limit, "memory": args.memory_limit, GPU_RESOURCE: gpus},
        ),
        startup_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_get,
            period_seconds=10,
            timeout_seconds=5,
            failure_threshold=max(1, args.startup_timeout_seconds // 10),
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_get, period_seconds=10, timeout_seconds=5, failure_threshold=3
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_get, period_seconds=20, timeout_seconds=10, failure_threshold=3
        ),
        security_context=_restricted_security_context(),
        volume_mounts=mounts,
    )
    taint_key, taint_value, taint_effect = args.gpu_taint
    return k8s.core.v1.PodSpecArgs(
        service_account_name=name,
        automount_service_account_token=False,
        priority_class_name=args.priority_class_name,
        enable_service_links=False,
        termination_grace_period_seconds=60,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=RUN_AS_UID,
            run_as_group=RUN_AS_UID,
            fs_group=RUN_AS_UID,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        image_pull_secrets=pull_secrets,
        init_containers=init_containers,
        containers=[container],
        volumes=volumes,
        tolerations=[
            k8s.core.v1.TolerationArgs(key=taint_key, operator="Equal", value=taint_value, effect=taint_effect)
        ],
        affinity=k8s.core.v1.AffinityArgs(
            node_affinity=k8s.core.v1.NodeAffinityArgs(
                required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                    node_selector_terms=[
                        k8s.core.v1.NodeSelectorTermArgs(
                            match_expressions=[
                                k8s.core.v1.NodeSelectorRequirementArgs(key=key, operator="In", values=[value])
                                for key, value in sorted(args.gpu_node_labels.items())
                            ]
                        )
                    ]
                )
            )
        ),
    )


def dns_egress_rule() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """Egress to the cluster DNS (kube-dns in kube-system) only: what every default-deny namespace still needs."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[
            k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                ),
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
            )
        ],
        ports=[
            k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=53),
        ],
    )


def network_policy_spec(
    selector: Mapping[str, str], args: InferenceServiceArgs
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Ingress only from the client namespaces (and an exposed Service's callers) on the API port; egress only to
    DNS and the configured destinations."""
    egress = [dns_egress_rule()]
    if isinstance(args.model, ObjectStoreModel) and args.model.public_https_egress:
        egress.append(
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        ip_block=k8s.networking.v1.IPBlockArgs(cidr="0.0.0.0/0", except_=list(PRIVATE_RANGES))
                    )
                ],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=443)],
            )
        )
    for cidr, port in args.egress:
        egress.append(
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)],
            )
        )
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        policy_types=["Ingress", "Egress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                            match_labels={"kubernetes.io/metadata.name": namespace}
                        )
                    )
                    for namespace in sorted(set(args.client_namespaces))
                ]
                + [
                    k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
                    for cidr in (sorted(set(args.exposure.caller_cidrs)) if args.exposure else [])
                ],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=PORT)],
            )
        ],
        egress=egress,
    )
