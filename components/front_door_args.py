"""What the front door's gateway is built from: its Args, the routed models, the API versions, ports and files.

Plain data and pure functions (components/front_door_gateway.py builds the resources from them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from components.helm_chart import HelmChart
from components.model_scaling import Scraper

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
    restricted: bool = False
    """Serves restricted (personal) data: a valid token is not enough, the caller must be entitled
    (``FrontDoorGatewayArgs.restricted_access``)."""


@dataclass(frozen=True)
class ClaimRule:
    """A JWT claim the caller must carry with one of ``values`` (Envoy Gateway SecurityPolicy authorization)."""

    claim: str
    values: Sequence[str]
    value_type: str = "StringArray"
    """String (the claim is one value) or StringArray (a list, e.g. groups)."""


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
    protect_crds: bool = False
    """Protect the cluster-wide CRDs from deletion: for a cluster the stack does not own (on-prem, shared), where
    deleting a CRD deletes every object of its kind, other teams' too. On AWS the stack owns the cluster and
    destroys it whole (protecting them would block ``pulumi destroy``)."""
    restricted_access: ClaimRule | None = None
    """Who may call the restricted models (required when one is routed)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()

    def __post_init__(self) -> None:
        restricted = [m.name for m in self.models if m.restricted]
        if restricted and self.restricted_access is None:
            raise ValueError(f"restricted models {restricted} need restricted_access: any valid token is not enough")
        for url, what in ((self.jwt_issuer, "jwt issuer"), (self.jwks_uri, "jwks uri")):
            if not url.startswith("https://"):
                raise ValueError(f"{what} {url!r}: https only")
        if not self.models:
            raise ValueError("a gateway without models would only refuse")
        if self.rate_limit_requests < 1:
            raise ValueError("rate limit: at least one request")


def certificate_ref(args: FrontDoorGatewayArgs) -> dict[str, Any]:
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
