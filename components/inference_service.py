"""An LLM served with vLLM's OpenAI-compatible server, on any Kubernetes cluster.

The cluster comes through ``opts`` (its Kubernetes provider); the namespace must exist. Every object
carries the residency labels it is given; the pods meet Pod Security Standard "restricted".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.inference_args import (
    DEFAULT_IMAGE,
    PORT,
    PRIVATE_RANGES,
    RUN_AS_UID,
    InferenceServiceArgs,
    ModelSourceArgs,
    ObjectStoreModel,
    PvcModel,
    RegistryModel,
    ServiceExposure,
)
from components.inference_pod import pod_spec
from components.model_scaling import (
    POD_MONITOR_API,
    SCALED_OBJECT_API,
    Scraper,
    pod_monitor_spec,
    scaled_object_spec,
    scrape_network_policy_spec,
)
from components.service_status import load_balancer_ingress

# The argument types live in components/inference_args.py and the pod in components/inference_pod.py; they are
# re-exported here, where callers know them from.
__all__ = [
    "DEFAULT_IMAGE",
    "PORT",
    "PRIVATE_RANGES",
    "RUN_AS_UID",
    "TYPE_TOKEN",
    "InferenceService",
    "InferenceServiceArgs",
    "ModelSourceArgs",
    "ObjectStoreModel",
    "PvcModel",
    "RegistryModel",
    "ServiceExposure",
    "dns_egress_rule",
    "network_policy_spec",
    "pod_selector",
    "service_spec",
]

TYPE_TOKEN = "hybrid-llm-infra:inference:InferenceService"


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
        self.load_balancer_hostname = self.service.status.apply(lambda st: load_balancer_ingress(st, "hostname"))
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
