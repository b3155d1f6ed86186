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

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from components.cluster_metrics import admit_scraper
from components.front_door_args import (
    CONTROLLER_NAME,
    ENVOY_GATEWAY_API,
    GATEWAY_API,
    GATEWAY_API_BETA,
    GATEWAY_CRD_DIRS,
    GATEWAY_CRD_FILES,
    HEALTH_PATH,
    STATS_PORT,
    FrontDoorGatewayArgs,
    RoutedModel,
    SourceRange,
    certificate_ref,
    model_route_rules,
)
from components.front_door_network import controller_policies, gateway_network_policies
from components.front_door_policies import route_targets, security_policy_spec, traffic_policy_spec
from components.helm_chart import pinned_release
from components.model_scaling import Scraper

__all__ = [
    "GATEWAY_CRD_DIRS",
    "GATEWAY_CRD_FILES",
    "FrontDoorGateway",
    "FrontDoorGatewayArgs",
    "RoutedModel",
    "SourceRange",
    "model_route_rules",
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
        controller_policies(self, name, args, labels, controller_ns)
        # The chart's own crds/ carries the Gateway API *experimental* channel; the stacks install the standard
        # channel v1.4.1 (the Gateway API release Envoy Gateway v1.6.7 is built on) and Envoy Gateway's CRDs from
        # vendored, unchanged files instead, and skip the chart's. Paths relative to the project directory, the
        # program's working directory (Pulumi runs it there).
        self.crds = k8s.yaml.v2.ConfigGroup(
            f"{name}-crds",
            files=list(GATEWAY_CRD_FILES),
            # Unchanged, unlabelled: CRDs are API types holding no data (the residency-tags control skips them).
            # Cluster-wide: deleting a CRD deletes every object of its kind in the cluster. On a cluster the stack does
            # not own, protected and retained (both inherited by the children: Pulumi docs, "protect", "retainOnDelete";
            # the provider builds them with Parent(component), yaml/v2/configgroup.go): removing the front door or
            # `pulumi destroy` is refused rather than deleting other teams' Gateways and routes.
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, protect=args.protect_crds, retain_on_delete=args.protect_crds
            ),
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
                            "certificateRefs": [certificate_ref(args)],
                        },
                        "allowedRoutes": {"namespaces": {"from": "Same"}},
                    }
                ],
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[self.crds, self.release, gateway_class]
            ),
        )
        on_gateway = pulumi.ResourceOptions(
            parent=self, provider=provider, depends_on=[self.crds, self.release, self.gateway]
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
            opts=on_gateway,
        )
        parent_refs = [{"name": args.gateway_name, "sectionName": "https"}]
        # Who may call comes before what may be called: each model's SecurityPolicy exists before its route, so no
        # route is ever served without one (Envoy Gateway accepts a policy whose target route does not exist yet:
        # internal/gatewayapi/securitypolicy.go, resolveSecurityPolicyRouteTargetRef, v1.6.7). One per route (Envoy
        # Gateway applies only the oldest of two on a route): open models need a valid token, restricted ones also
        # the entitling claim.
        guards = (
            ("jwt", "require-jwt", [m.name for m in args.models if not m.restricted], None),
            (
                "jwt-restricted",
                "require-jwt-and-entitlement",
                [m.name for m in args.models if m.restricted],
                args.restricted_access,
            ),
        )
        security = [
            CustomResource(
                f"{name}-{suffix}",
                api_version=ENVOY_GATEWAY_API,
                kind="SecurityPolicy",
                metadata=meta(policy_name),
                spec=security_policy_spec(route_targets(models), args, entitled),
                opts=on_gateway,
            )
            for suffix, policy_name, models, entitled in guards
            if models
        ]
        guarded = pulumi.ResourceOptions.merge(on_gateway, pulumi.ResourceOptions(depends_on=security))
        self.routes = {
            model.name: CustomResource(
                f"{name}-route-{model.name}",
                api_version=GATEWAY_API,
                kind="HTTPRoute",
                metadata=meta(f"model-{model.name}"),
                spec={"parentRefs": parent_refs, "rules": model_route_rules(model)},
                opts=guarded,
            )
            for model in args.models
        }
        self._health(name, args, meta, parent_refs, on_gateway)
        route_list = list(self.routes.values())
        policy_opts = pulumi.ResourceOptions(
            parent=self, provider=provider, depends_on=[self.crds, self.release, *route_list]
        )
        CustomResource(
            f"{name}-traffic",
            api_version=ENVOY_GATEWAY_API,
            kind="BackendTrafficPolicy",
            metadata=meta("per-client-limit"),
            spec=traffic_policy_spec(route_targets([m.name for m in args.models]), args),
            opts=policy_opts,
        )
        gateway_network_policies(self, name, args, labels, [self.crds, self.release])
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
        ref = certificate_ref(args)
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
