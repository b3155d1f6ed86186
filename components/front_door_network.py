"""The front door's NetworkPolicies: the controller reached by the proxies only, the proxies by the entry only, each
routed model by the proxies only, and the ReferenceGrants letting the routes name the models' Services."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from components.front_door_args import GATEWAY_API_BETA, MODEL_PORT, XDS_PORT, FrontDoorGatewayArgs
from components.network_policies import default_deny_ingress
from residency.front_door import PUBLIC_ENTRY_LABEL, PUBLIC_ENTRY_VALUE


def controller_policies(
    parent: pulumi.Resource,
    name: str,
    args: FrontDoorGatewayArgs,
    labels: dict[str, str],
    namespace: k8s.core.v1.Namespace,
) -> None:
    """The controller's namespace denies ingress but for the proxies' xDS connections (18000; the gateway-helm
    chart's values, v1.6.7). No webhook: the topology injector is off (see the release's values)."""
    opts = pulumi.ResourceOptions(parent=parent, provider=args.kubernetes_provider, depends_on=[namespace])
    policy = k8s.networking.v1
    default_deny_ingress(f"{name}-controller-default-deny", args.controller_namespace, labels, opts)
    proxies = policy.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": args.namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(args.proxy_selector)),
    )
    policy.NetworkPolicy(
        f"{name}-controller-admit",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="admit-proxies", namespace=args.controller_namespace, labels=labels),
        spec=policy.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(),
            policy_types=["Ingress"],
            ingress=[
                policy.NetworkPolicyIngressRuleArgs(
                    from_=[proxies], ports=[policy.NetworkPolicyPortArgs(protocol="TCP", port=XDS_PORT)]
                ),
            ],
        ),
        opts=opts,
    )


def gateway_network_policies(
    parent: pulumi.Resource,
    name: str,
    args: FrontDoorGatewayArgs,
    labels: dict[str, str],
    installed: Sequence[pulumi.Resource],
) -> None:
    """The NLB to the proxies (front-door denies ingress by default); the proxies to each model on 8000; and
    the ReferenceGrant letting the routes in front-door name Services of the model's namespace."""
    opts = pulumi.ResourceOptions(parent=parent, provider=args.kubernetes_provider, depends_on=list(args.depends_on))
    k8s.networking.v1.NetworkPolicy(
        f"{name}-admit-entry",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name="admit-load-balancer",
            namespace=args.namespace,
            # The pack's isolation control reads this policy as the public entry's (residency/front_door.py).
            labels={**labels, PUBLIC_ENTRY_LABEL: PUBLIC_ENTRY_VALUE},
        ),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(args.proxy_selector)),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    # AWS: a TLS listener with IP targets does not preserve the client's address, connections
                    # come from the NLB's private addresses in the VPC (ELB docs, "Client IP preservation").
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            ip_block=k8s.networking.v1.IPBlockArgs(cidr=source.cidr, except_=source.excepted or None)
                        )
                        for source in args.entry_sources
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=args.proxy_port)],
                )
            ],
        ),
        opts=opts,
    )
    gateway_pods = k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": args.namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(args.proxy_selector)),
    )
    for model in args.models:
        k8s.networking.v1.NetworkPolicy(
            f"{name}-admit-{model.name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{model.name}-from-front-door", namespace=model.namespace, labels=labels
            ),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(model.pod_selector)),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[gateway_pods],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=MODEL_PORT)],
                    )
                ],
            ),
            opts=opts,
        )
    for namespace in sorted({m.namespace for m in args.models}):
        CustomResource(
            f"{name}-grant-{namespace}",
            api_version=GATEWAY_API_BETA,
            kind="ReferenceGrant",
            metadata={"name": "front-door-routes", "namespace": namespace, "labels": labels},
            spec={
                "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": args.namespace}],
                "to": [
                    {"group": "", "kind": "Service", "name": m.service} for m in args.models if m.namespace == namespace
                ],
            },
            opts=pulumi.ResourceOptions(parent=parent, provider=args.kubernetes_provider, depends_on=list(installed)),
        )
