"""The gateway behind a site's front-door entry: Envoy Gateway, one Gateway, one HTTPRoute per model, JWT, limits.

The same on both clouds; what differs is the entry in front (AWS: the NLB of ``FrontDoorEntry``; on-prem: the site's
load balancer, ``SiteFrontDoorEntry``) and the listener's certificate. Envoy Gateway runs in Gateway Namespace Mode
(``provider.kubernetes.deploy.type: GatewayNamespace``; Envoy Gateway docs, "Gateway Namespace Mode"), so its proxy
pods run in the Gateway's namespace (``front-door``), where the entry's Service selects them; the proxies' own Service stays ClusterIP (EnvoyProxy
``envoyService.type``), so no second load balancer is made. Routes: ``/models/<name>/v1/<path>`` for the three
OpenAI-compatible paths, rewritten to ``/v1/<path>`` on the model's Service (port 8000): Gateway API cannot match on
the request body, and a path works with any OpenAI client (``base_url``) where a header would need every client to
add one. No catch-all route: any other path gets Envoy's 404. README, "The front door".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from components.cluster_metrics import admit_scraper
from components.helm_chart import HelmChart, pinned_release
from components.model_scaling import Scraper
from components.network_policies import default_deny_ingress
from residency.front_door import PUBLIC_ENTRY_LABEL, PUBLIC_ENTRY_VALUE

GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_API_BETA = "gateway.networking.k8s.io/v1beta1"
ENVOY_GATEWAY_API = "gateway.envoyproxy.io/v1alpha1"
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
OPENAI_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/models")
MODEL_PORT = 8000
SUB_HEADER = "x-jwt-sub"
"""The JWT ``sub`` claim copied into a header by the JWT filter (overwriting any the client sent), so the local rate
limit can count per client: Envoy Gateway runs jwt_authn before local_ratelimit (internal/xds/translator/
httpfilters.go, v1.6.7)."""
_ROOT = Path(__file__).resolve().parent.parent
GATEWAY_CRD_DIRS = ("components/vendor/gateway-api-v1.4.1-standard", "components/vendor/envoy-gateway-v1.6.7-crds")
"""Vendored unchanged (components/vendor/README.md): what the clusters get, and what the tests validate against."""
GATEWAY_CRD_FILES = tuple(
    str(path.relative_to(_ROOT)) for d in GATEWAY_CRD_DIRS for path in sorted((_ROOT / d).glob("*.yaml"))
)
HEALTH_PATH = "/healthz"
XDS_PORT = 18000
STATS_PORT = 19001


@dataclass(frozen=True)
class SourceRange:
    """An ipBlock of the NetworkPolicy admitting the entry's connections to the proxies."""

    cidr: str
    excepted: pulumi.Input[Sequence[str]] = ()


@dataclass(frozen=True)
class RoutedModel:
    name: str
    namespace: str
    service: str
    pod_selector: Mapping[str, str]
    """Labels of the model's pods (the NetworkPolicy admitting the gateway selects them)."""


@dataclass(frozen=True)
class FrontDoorGatewayArgs:
    namespace: str
    gateway_name: str
    proxy_selector: Mapping[str, str]
    """Labels Envoy Gateway puts on the proxy pods (the NLB Service selects them)."""
    proxy_port: int
    """Container port of the 443 listener (the NLB's target port)."""
    entry_sources: Sequence[SourceRange]
    """Where the load balancer's connections to the proxies come from (AWS: the NLB's private addresses in the VPC;
    on-prem: the callers themselves, kept by externalTrafficPolicy Local)."""
    chart: HelmChart
    models: Sequence[RoutedModel]
    jwt_issuer: str
    jwks_uri: str
    jwt_audiences: Sequence[str]
    rate_limit_requests: int
    rate_limit_unit: str
    listener_certificate_secret: pulumi.Input[str]
    replicas: int
    kubernetes_provider: pulumi.ProviderResource
    controller_namespace: str = "envoy-gateway-system"
    listener_certificate_namespace: str | None = None
    """The Secret's namespace when not the Gateway's (a ReferenceGrant there lets the Gateway read it)."""
    scraper: Scraper | None = None
    """The cluster's Prometheus: scrapes the proxies' stats (certificate expiry; components/slo_rules.py alerts)."""
    scrape_interval: str = "30s"
    monitoring_depends_on: Sequence[pulumi.Resource] = ()
    """The release that installs the PodMonitor CRD (kube-prometheus-stack)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()

    def __post_init__(self) -> None:
        for url, what in ((self.jwt_issuer, "jwt issuer"), (self.jwks_uri, "jwks uri")):
            if not url.startswith("https://"):
                raise ValueError(f"{what} {url!r}: https only")
        if not self.models:
            raise ValueError("a gateway without models would only refuse")
        if self.rate_limit_requests < 1:
            raise ValueError("rate limit: at least one request")


def _certificate_ref(args: FrontDoorGatewayArgs) -> dict[str, Any]:
    ref: dict[str, Any] = {"kind": "Secret", "name": args.listener_certificate_secret}
    namespace = args.listener_certificate_namespace
    return {**ref, "namespace": namespace} if namespace and namespace != args.namespace else ref


def model_route_rules(model: RoutedModel) -> list[dict[str, Any]]:
    """One rule per OpenAI path: exact ``/models/<name>/v1/...`` rewritten to ``/v1/...`` on the model's Service.

    Envoy's least-request balancing is set by the BackendTrafficPolicy (Service endpoints, not the ClusterIP)."""
    return [
        {
            "matches": [{"path": {"type": "Exact", "value": f"/models/{model.name}{path}"}}],
            "filters": [
                {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": path}}}
            ],
            "backendRefs": [{"name": model.service, "namespace": model.namespace, "port": MODEL_PORT}],
        }
        for path in OPENAI_PATHS
    ]


class FrontDoorGateway(pulumi.ComponentResource):
    """Envoy Gateway's release, EnvoyProxy, GatewayClass, Gateway, routes, policies and NetworkPolicies."""

    crds: k8s.yaml.v2.ConfigGroup
    release: k8s.helm.v3.Release
    gateway: CustomResource
    routes: dict[str, CustomResource]

    def __init__(self, name: str, args: FrontDoorGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:front-door:FrontDoorGateway", name, None, opts)
        provider = args.kubernetes_provider
        labels = dict(args.labels)
        ns = args.namespace
        controller_ns = k8s.core.v1.Namespace(
            f"{name}-controller-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.controller_namespace,
                labels={**labels, **{f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn")}},
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self._controller_policies(name, args, labels, controller_ns)
        # The chart's own crds/ carries the Gateway API *experimental* channel; the stacks install the standard
        # channel v1.4.1 (the Gateway API release Envoy Gateway v1.6.7 is built on) and Envoy Gateway's CRDs from
        # vendored, unchanged files instead, and skip the chart's. Paths relative to the project directory, the
        # program's working directory (Pulumi runs it there).
        self.crds = k8s.yaml.v2.ConfigGroup(
            f"{name}-crds",
            files=list(GATEWAY_CRD_FILES),
            # Unchanged, unlabelled: CRDs are API types holding no data (the residency-tags control skips them).
            # Cluster-wide: deleting a CRD deletes every object of its kind in the cluster, other teams' Gateways and
            # routes too. Protected (inherited by the children; Pulumi docs, "protect"), so removing the front door
            # or `pulumi destroy` stops here instead; retained, so whoever unprotects them leaves them in place.
            opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=True, retain_on_delete=True),
        )
        self.release = pinned_release(
            f"{name}-release",
            release_name="envoy-gateway",
            source=args.chart,
            namespace=args.controller_namespace,
            values={
                # Proxies in the Gateway's namespace (Envoy Gateway docs, "Gateway Namespace Mode"); the chart adds
                # the cluster-wide RBAC this needs.
                "config": {
                    "envoyGateway": {
                        "gateway": {"controllerName": CONTROLLER_NAME},
                        "provider": {
                            "type": "Kubernetes",
                            "kubernetes": {
                                "deploy": {"type": "GatewayNamespace"},
                                # Where EnvoyGateway reads it (api/v1alpha1 EnvoyGatewayKubernetesProvider); the
                                # chart writes it at the top level for topologyInjector.enabled=false, where the
                                # non-strict decoder drops it (templates/_helpers.tpl, v1.6.7).
                                "proxyTopologyInjector": {"disabled": True},
                            },
                        },
                    }
                },
                # In Gateway Namespace Mode the chart's topology-injector webhook has no namespaceSelector: it would
                # intercept the binding of every pod of the cluster (templates/envoy-proxy-topology-injector-
                # webhook.yaml, v1.6.7), on-prem the site's existing GPU cluster. It only feeds zone-aware routing,
                # which the front door does not use.
                "topologyInjector": {"enabled": False},
            },
            skip_crds=True,
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[controller_ns, self.crds, *args.depends_on]
            ),
        )
        after = pulumi.ResourceOptions(
            parent=self, provider=provider, depends_on=[self.crds, self.release, *args.depends_on]
        )

        def meta(resource: str, namespace: str | None = ns) -> dict[str, Any]:
            return {"name": resource, **({"namespace": namespace} if namespace else {}), "labels": labels}

        proxy = CustomResource(
            f"{name}-envoyproxy",
            api_version=ENVOY_GATEWAY_API,
            kind="EnvoyProxy",
            metadata=meta(args.gateway_name),
            spec={
                "provider": {
                    "type": "Kubernetes",
                    "kubernetes": {
                        # The NLB Service (FrontDoorEntry) is the only entry; the proxies' own Service stays internal.
                        "envoyService": {"type": "ClusterIP"},
                        "envoyDeployment": {"replicas": args.replicas},
                    },
                }
            },
            opts=after,
        )
        gateway_class = CustomResource(
            f"{name}-gatewayclass",
            api_version=GATEWAY_API,
            kind="GatewayClass",
            metadata=meta(args.gateway_name, None),
            spec={
                "controllerName": CONTROLLER_NAME,
                "parametersRef": {
                    "group": "gateway.envoyproxy.io",
                    "kind": "EnvoyProxy",
                    "name": args.gateway_name,
                    "namespace": ns,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[self.crds, self.release, proxy]),
        )
        self.gateway = CustomResource(
            f"{name}-gateway",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata=meta(args.gateway_name),
            spec={
                "gatewayClassName": args.gateway_name,
                "listeners": [
                    {
                        # AWS: the NLB re-encrypts (backend-protocol ssl) and does not verify the target's
                        # certificate (ELB docs, "TLS listeners"), so this leg uses a self-signed one; on-prem the
                        # public certificate ends here. 443 maps to container port 10443 (unprivileged proxies).
                        "name": "https",
                        "port": 443,
                        "protocol": "HTTPS",
                        "tls": {
                            "mode": "Terminate",
                            "certificateRefs": [_certificate_ref(args)],
                        },
                        "allowedRoutes": {"namespaces": {"from": "Same"}},
                    }
                ],
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[self.crds, self.release, gateway_class]
            ),
        )
        self._certificate_grant(name, args, labels)
        # TLS 1.2 and 1.3 only, said here rather than left to defaults: Envoy Gateway sets 1.2 as the minimum when a
        # ClientTrafficPolicy applies (internal/gatewayapi/clienttrafficpolicy.go, v1.6.7), Envoy's own default
        # otherwise.
        CustomResource(
            f"{name}-client-tls",
            api_version=ENVOY_GATEWAY_API,
            kind="ClientTrafficPolicy",
            metadata=meta("tls-1-2-or-later"),
            spec={
                "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": args.gateway_name}],
                "tls": {"minVersion": "1.2", "maxVersion": "1.3"},
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[self.crds, self.release, self.gateway]
            ),
        )
        parent_refs = [{"name": args.gateway_name, "sectionName": "https"}]
        on_gateway = pulumi.ResourceOptions(
            parent=self, provider=provider, depends_on=[self.crds, self.release, self.gateway]
        )
        self.routes = {
            model.name: CustomResource(
                f"{name}-route-{model.name}",
                api_version=GATEWAY_API,
                kind="HTTPRoute",
                metadata=meta(f"model-{model.name}"),
                spec={"parentRefs": parent_refs, "rules": model_route_rules(model)},
                opts=on_gateway,
            )
            for model in args.models
        }
        self._health(name, args, meta, parent_refs, on_gateway)
        targets = [
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": f"model-{m.name}"} for m in args.models
        ]
        route_list = list(self.routes.values())
        policy_opts = pulumi.ResourceOptions(
            parent=self, provider=provider, depends_on=[self.crds, self.release, *route_list]
        )
        CustomResource(
            f"{name}-jwt",
            api_version=ENVOY_GATEWAY_API,
            kind="SecurityPolicy",
            metadata=meta("require-jwt"),
            spec={
                "targetRefs": targets,
                "jwt": {
                    # Not optional: a request without a valid token is refused with 401 (no anonymous access).
                    "providers": [
                        {
                            "name": "issuer",
                            "issuer": args.jwt_issuer,
                            **({"audiences": list(args.jwt_audiences)} if args.jwt_audiences else {}),
                            "remoteJWKS": {"uri": args.jwks_uri},
                            "claimToHeaders": [{"claim": "sub", "header": SUB_HEADER}],
                        }
                    ]
                },
            },
            opts=policy_opts,
        )
        CustomResource(
            f"{name}-traffic",
            api_version=ENVOY_GATEWAY_API,
            kind="BackendTrafficPolicy",
            metadata=meta("per-client-limit"),
            spec={
                "targetRefs": targets,
                # Least outstanding requests across the model's pods: vLLM requests differ in length by orders of
                # magnitude, so round robin piles long generations onto one pod.
                "loadBalancer": {"type": "LeastRequest"},
                # Local: counted in each proxy pod, no Redis (a Global limit needs Envoy's rate-limit service).
                # Distinct: one bucket per value of the header, i.e. per token subject.
                "rateLimit": {
                    "type": "Local",
                    "local": {
                        "rules": [
                            {
                                "clientSelectors": [{"headers": [{"name": SUB_HEADER, "type": "Distinct"}]}],
                                "limit": {"requests": args.rate_limit_requests, "unit": args.rate_limit_unit},
                            }
                        ]
                    },
                },
            },
            opts=policy_opts,
        )
        self._network_policies(name, args, labels)
        if args.scraper is not None:
            self._monitoring(name, args, args.scraper, labels)
        self.register_outputs({"gateway": args.gateway_name, "routes": sorted(self.routes)})

    def _monitoring(self, name: str, args: FrontDoorGatewayArgs, scraper: Scraper, labels: dict[str, str]) -> None:
        """Prometheus scrapes the proxies' stats port (``metrics``, 19001, /stats/prometheus: Envoy Gateway
        internal/infrastructure/kubernetes/proxy/resource.go and bootstrap.EnvoyStatsPort, v1.6.7), and only it."""
        opts = pulumi.ResourceOptions(
            parent=self, provider=args.kubernetes_provider, depends_on=[*args.monitoring_depends_on, *args.depends_on]
        )
        CustomResource(
            f"{name}-proxy-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata={"name": "front-door-proxies", "namespace": args.namespace, "labels": labels},
            spec={
                "selector": {"matchLabels": dict(args.proxy_selector)},
                "podMetricsEndpoints": [
                    {"port": "metrics", "path": "/stats/prometheus", "interval": args.scrape_interval, "scheme": "http"}
                ],
            },
            opts=opts,
        )
        admit_scraper(f"{name}-proxy-stats", args.namespace, args.proxy_selector, STATS_PORT, scraper, labels, opts)

    def _certificate_grant(self, name: str, args: FrontDoorGatewayArgs, labels: dict[str, str]) -> None:
        """A certificate in another namespace (e.g. where cert-manager keeps it) needs that namespace's consent
        (Gateway API, ReferenceGrant: a Gateway's certificateRefs across namespaces)."""
        ref = _certificate_ref(args)
        if "namespace" not in ref:
            return
        CustomResource(
            f"{name}-certificate-grant",
            api_version=GATEWAY_API_BETA,
            kind="ReferenceGrant",
            metadata={"name": f"{args.gateway_name}-certificate", "namespace": ref["namespace"], "labels": labels},
            spec={
                "from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": args.namespace}],
                "to": [{"group": "", "kind": "Secret", "name": ref["name"]}],
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.kubernetes_provider, depends_on=[self.crds, self.release]
            ),
        )

    def _health(
        self,
        name: str,
        args: FrontDoorGatewayArgs,
        meta: Any,
        parent_refs: list[dict[str, Any]],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """``/healthz`` answered 200 by the proxy itself, without a token: Route 53 probes each site's entry (with the
        NLB's or the jurisdiction's name as host) and cannot present a JWT (README, "The front door", Preconditions)."""
        response = CustomResource(
            f"{name}-healthz-response",
            api_version=ENVOY_GATEWAY_API,
            kind="HTTPRouteFilter",
            metadata=meta("healthz"),
            spec={
                "directResponse": {
                    "contentType": "text/plain",
                    "statusCode": 200,
                    "body": {"type": "Inline", "inline": "ok"},
                }
            },
            opts=opts,
        )
        CustomResource(
            f"{name}-healthz",
            api_version=GATEWAY_API,
            kind="HTTPRoute",
            metadata=meta("healthz"),
            spec={
                "parentRefs": parent_refs,
                "rules": [
                    {
                        "matches": [{"path": {"type": "Exact", "value": HEALTH_PATH}}],
                        "filters": [
                            {
                                "type": "ExtensionRef",
                                "extensionRef": {
                                    "group": "gateway.envoyproxy.io",
                                    "kind": "HTTPRouteFilter",
                                    "name": "healthz",
                                },
                            }
                        ],
                    }
                ],
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[response])),
        )

    def _controller_policies(
        self, name: str, args: FrontDoorGatewayArgs, labels: dict[str, str], namespace: k8s.core.v1.Namespace
    ) -> None:
        """The controller's namespace denies ingress but for the proxies' xDS connections (18000; the gateway-helm
        chart's values, v1.6.7). No webhook: the topology injector is off (see the release's values)."""
        opts = pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider, depends_on=[namespace])
        policy = k8s.networking.v1
        default_deny_ingress(f"{name}-controller-default-deny", args.controller_namespace, labels, opts)
        proxies = policy.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels={"kubernetes.io/metadata.name": args.namespace}
            ),
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(args.proxy_selector)),
        )
        policy.NetworkPolicy(
            f"{name}-controller-admit",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="admit-proxies", namespace=args.controller_namespace, labels=labels
            ),
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

    def _network_policies(self, name: str, args: FrontDoorGatewayArgs, labels: dict[str, str]) -> None:
        """The NLB to the proxies (front-door denies ingress by default); the proxies to each model on 8000; and
        the ReferenceGrant letting the routes in front-door name Services of the model's namespace."""
        opts = pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider, depends_on=list(args.depends_on))
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
                                ip_block=k8s.networking.v1.IPBlockArgs(
                                    cidr=source.cidr, except_=source.excepted or None
                                )
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
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels={"kubernetes.io/metadata.name": args.namespace}
            ),
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
                        {"group": "", "kind": "Service", "name": m.service}
                        for m in args.models
                        if m.namespace == namespace
                    ],
                },
                opts=pulumi.ResourceOptions(
                    parent=self, provider=args.kubernetes_provider, depends_on=[self.crds, self.release]
                ),
            )
