"""The front door's gateway: Envoy Gateway in Gateway Namespace Mode behind the NLB, one route per AWS model, JWT,
a per-client limit, the NetworkPolicies admitting it, and the config that refuses what may not be routed."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.front_door_gateway import FrontDoorGateway, FrontDoorGatewayArgs, RoutedModel, SourceRange
from components.helm_chart import HelmChart
from components.inference_service import pod_selector
from infra.mocks import CapturedResource
from residency.kubernetes_manifests import HELM_RELEASE, manifest_from_inputs
from stackconfig import AwsStackConfig, parse_stack_config
from stacks.front_door import GATEWAY_PORT, GATEWAY_SELECTOR, NAMESPACE
from tests.crd_schema import errors
from tests.stack_runs import shipped_runs
from tests.test_config import problems_of, stack_config, with_object

AWS = ["frankfurt", "dubai"]
KEY = "hybrid-llm-infra:frontDoor"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def _of(resources: list[CapturedResource], type_: str) -> list[dict[str, Any]]:
    out = []
    for r in resources:
        if r.type == type_:
            manifest = manifest_from_inputs(r.type, r.inputs)
            assert manifest is not None
            out.append(manifest)
    return out


def _stack(stack: str, type_: str) -> list[dict[str, Any]]:
    return _of(shipped_runs()[stack].resources, type_)


def _config(stack: str) -> AwsStackConfig:
    config = parse_stack_config(stack_config(stack))
    assert isinstance(config, AwsStackConfig)
    return config


def route_for(routes: list[dict[str, Any]], path: str) -> tuple[str, str, str] | None:
    """What the gateway does with a request path under Gateway API's rules (Exact/PathPrefix matches; none: 404):
    (backend Service namespace/name, its port, the path the backend sees)."""
    for route in routes:
        for rule in route["spec"]["rules"]:
            for match in rule.get("matches", []):
                kind, value = match["path"]["type"], match["path"]["value"]
                if (kind == "Exact" and path == value) or (
                    kind == "PathPrefix" and (path == value or path.startswith(value.rstrip("/") + "/"))
                ):
                    rewritten = path
                    for f in rule.get("filters", []):
                        if f["type"] == "URLRewrite" and f["urlRewrite"]["path"]["type"] == "ReplaceFullPath":
                            rewritten = f["urlRewrite"]["path"]["replaceFullPath"]
                    backends = rule.get("backendRefs") or []
                    if not backends:
                        return ("<direct response>", "", rewritten)
                    [backend] = backends
                    return (f"{backend['namespace']}/{backend['name']}", str(backend["port"]), rewritten)
    return None


def admitted(
    policies: list[dict[str, Any]], pod: dict[str, str], source: tuple[str, dict[str, str]], port: int
) -> bool:
    """Whether a NetworkPolicy of the pod's namespace admits ``source`` (namespace, labels) to ``port`` (rules as
    in the Kubernetes NetworkPolicy reference: a peer's namespaceSelector and podSelector must both match)."""
    namespace, labels = source
    for policy in policies:
        spec = policy["spec"]
        if not set(spec["podSelector"].get("matchLabels", {}).items()) <= set(pod.items()):
            continue
        for rule in spec.get("ingress", []):
            if not any(p.get("port") == port for p in rule.get("ports", [])):
                continue
            for peer in rule.get("from", []):
                ns = peer.get("namespaceSelector", {}).get("matchLabels")
                pods = peer.get("podSelector", {}).get("matchLabels")
                if ns is None or pods is None:
                    continue
                if ns == {"kubernetes.io/metadata.name": namespace} and set(pods.items()) <= set(labels.items()):
                    return True
    return False


# --- the shipped AWS stacks -----------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS)
def test_envoy_gateway_runs_its_proxies_in_the_front_door_namespace(stack: str) -> None:
    [release] = [
        r.inputs
        for r in shipped_runs()[stack].resources
        if r.type == HELM_RELEASE and r.inputs["chart"].endswith("/gateway-helm")
    ]
    assert release["chart"] == "oci://docker.io/envoyproxy/gateway-helm" and release["version"] == "v1.6.7"
    provider = release["values"]["config"]["envoyGateway"]["provider"]
    assert provider["kubernetes"]["deploy"]["type"] == "GatewayNamespace"
    [proxy] = _stack(stack, "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")
    assert proxy["metadata"]["namespace"] == NAMESPACE
    assert proxy["spec"]["provider"]["kubernetes"]["envoyService"]["type"] == "ClusterIP"  # the NLB is the entry
    [gateway_class] = _stack(stack, "kubernetes:gateway.networking.k8s.io/v1:GatewayClass")
    assert gateway_class["spec"]["parametersRef"] == {
        "group": "gateway.envoyproxy.io",
        "kind": "EnvoyProxy",
        "name": proxy["metadata"]["name"],
        "namespace": NAMESPACE,
    }
    [gateway] = _stack(stack, "kubernetes:gateway.networking.k8s.io/v1:Gateway")
    # The NLB Service selects the labels Envoy Gateway gives this Gateway's proxies, in this namespace.
    [nlb] = [s for s in _stack(stack, "kubernetes:core/v1:Service") if s["metadata"]["name"] == "front-door"]
    assert nlb["metadata"]["namespace"] == gateway["metadata"]["namespace"] == NAMESPACE
    assert nlb["spec"]["selector"] == {
        "gateway.envoyproxy.io/owning-gateway-name": gateway["metadata"]["name"],
        "gateway.envoyproxy.io/owning-gateway-namespace": NAMESPACE,
    }
    [listener] = gateway["spec"]["listeners"]
    assert (listener["port"], listener["protocol"], listener["tls"]["mode"]) == (443, "HTTPS", "Terminate")
    assert nlb["spec"]["ports"][0]["targetPort"] == GATEWAY_PORT  # Envoy Gateway maps 443 to 10443


@pytest.mark.parametrize("stack", AWS)
def test_each_model_of_the_stack_has_its_openai_paths_and_nothing_else_is_routed(stack: str) -> None:
    config = _config(stack)
    routes = _stack(stack, ROUTE)
    assert config.inference
    for model in config.inference:
        for path in ("/v1/chat/completions", "/v1/completions", "/v1/models"):
            assert route_for(routes, f"/models/{model.name}{path}") == (f"{model.namespace}/{model.name}", "8000", path)
        assert route_for(routes, f"/models/{model.name}/v1/embeddings") is None
        assert route_for(routes, f"/models/{model.name}/metrics") is None
    for path in ("/", "/v1/chat/completions", "/v1/models", "/models/unknown/v1/models", "/healthz/x"):
        assert route_for(routes, path) is None, path  # no catch-all: Envoy answers 404
    assert route_for(routes, "/healthz") == ("<direct response>", "", "/healthz")


@pytest.mark.parametrize("stack", AWS)
def test_every_model_route_requires_a_jwt_from_the_configured_issuer(stack: str) -> None:
    door = _config(stack).front_door
    assert door is not None
    model_routes = {r["metadata"]["name"] for r in _stack(stack, ROUTE) if r["metadata"]["name"].startswith("model-")}
    [policy] = _stack(stack, "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy")
    assert {t["name"] for t in policy["spec"]["targetRefs"]} == model_routes
    assert "healthz" not in model_routes
    [provider] = policy["spec"]["jwt"]["providers"]
    assert provider["issuer"] == door.gateway.jwt.issuer and provider["issuer"].startswith("https://")
    assert provider["remoteJWKS"]["uri"] == door.gateway.jwt.jwks_uri
    assert not policy["spec"]["jwt"].get("optional", False)  # a request without a valid token gets 401


@pytest.mark.parametrize("stack", AWS)
def test_the_rate_limit_counts_per_token_subject_and_balances_by_least_request(stack: str) -> None:
    [security] = _stack(stack, "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy")
    [traffic] = _stack(stack, "kubernetes:gateway.envoyproxy.io/v1alpha1:BackendTrafficPolicy")
    assert traffic["spec"]["targetRefs"] == security["spec"]["targetRefs"]
    assert traffic["spec"]["loadBalancer"] == {"type": "LeastRequest"}
    limit = traffic["spec"]["rateLimit"]
    assert limit["type"] == "Local"
    [rule] = limit["local"]["rules"]
    [[header]] = [s["headers"] for s in rule["clientSelectors"]]
    [claim] = security["spec"]["jwt"]["providers"][0]["claimToHeaders"]
    assert claim["claim"] == "sub" and header == {"name": claim["header"], "type": "Distinct"}
    assert rule["limit"] == {"requests": 60, "unit": "Minute"}


@pytest.mark.parametrize("stack", AWS)
def test_the_gateway_pods_reach_each_model_on_8000_and_others_do_not(stack: str) -> None:
    policies = _stack(stack, POLICY)
    gateway = (NAMESPACE, dict(GATEWAY_SELECTOR))
    for model in _config(stack).inference:
        [deployment] = [
            d
            for d in _stack(stack, "kubernetes:apps/v1:Deployment")
            if d["metadata"]["name"] == model.name and d["metadata"]["namespace"] == model.namespace
        ]
        pod = deployment["spec"]["template"]["metadata"]["labels"]
        mine = [p for p in policies if p["metadata"]["namespace"] == model.namespace]
        assert admitted(mine, pod, gateway, 8000)
        assert not admitted(mine, pod, gateway, 8001)
        assert not admitted(mine, pod, ("default", dict(GATEWAY_SELECTOR)), 8000)
    # And the NLB reaches the proxies on the target port through front-door's default deny.
    [admit] = [
        p
        for p in policies
        if p["metadata"]["namespace"] == NAMESPACE and p["metadata"]["name"] == "admit-load-balancer"
    ]
    assert admit["spec"]["podSelector"]["matchLabels"] == GATEWAY_SELECTOR
    assert admit["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": GATEWAY_PORT}]


# --- the component with two models in two namespaces -------------------------------------------------


def _args(models: list[RoutedModel], provider: Any, **changes: Any) -> FrontDoorGatewayArgs:
    """The gateway's Args for the component tests; ``changes`` override any field."""
    defaults: dict[str, Any] = dict(
        namespace=NAMESPACE,
        gateway_name="front-door",
        proxy_selector=GATEWAY_SELECTOR,
        proxy_port=GATEWAY_PORT,
        entry_sources=[SourceRange("10.20.0.0/16")],
        chart=HelmChart("oci://docker.io/envoyproxy", "gateway-helm", "v1.6.7"),
        models=models,
        jwt_issuer="https://login.example.com/",
        jwks_uri="https://login.example.com/jwks",
        jwt_audiences=[],
        rate_limit_requests=5,
        rate_limit_unit="Second",
        listener_certificate_secret="front-door-backend-tls",
        replicas=2,
        kubernetes_provider=provider,
    )
    return FrontDoorGatewayArgs(**{**defaults, **changes})


def _gateway(models: list[RoutedModel], **changes: Any) -> None:
    """The component alone under the mocks; ``changes`` override its Args (e.g. the certificate's place)."""
    args = _args(models, k8s.Provider("cluster", context="ctx"), **changes)
    FrontDoorGateway("gw", args, pulumi.ResourceOptions())


def test_two_models_two_namespaces_get_routes_grants_and_policies_of_their_own(mock_stack: Any) -> None:
    models = [RoutedModel("a", "team-a", "a", pod_selector("a")), RoutedModel("b", "team-b", "b", pod_selector("b"))]
    _gateway(models)
    mock_stack.settle()
    resources = list(mock_stack.capture.resources.values())
    routes = _of(resources, ROUTE)
    assert route_for(routes, "/models/a/v1/completions") == ("team-a/a", "8000", "/v1/completions")
    assert route_for(routes, "/models/b/v1/models") == ("team-b/b", "8000", "/v1/models")
    grants = _of(resources, "kubernetes:gateway.networking.k8s.io/v1beta1:ReferenceGrant")
    assert {g["metadata"]["namespace"]: [t["name"] for t in g["spec"]["to"]] for g in grants} == {
        "team-a": ["a"],
        "team-b": ["b"],
    }
    for grant in grants:
        assert grant["spec"]["from"] == [
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": NAMESPACE}
        ]
    policies = _of(resources, POLICY)
    team_a = [p for p in policies if p["metadata"]["namespace"] == "team-a"]
    assert admitted(team_a, pod_selector("a"), (NAMESPACE, dict(GATEWAY_SELECTOR)), 8000)
    assert not admitted(team_a, pod_selector("b"), (NAMESPACE, dict(GATEWAY_SELECTOR)), 8000)
    for kind in ("HTTPRoute", "ReferenceGrant", "SecurityPolicy", "BackendTrafficPolicy", "Gateway"):
        for manifest in [m for r in resources if r.type.endswith(f":{kind}") for m in _of([r], r.type)]:
            assert not list(errors(manifest)), manifest


@pytest.mark.parametrize(
    ("field", "value"), [("jwt_issuer", "http://login.example.com/"), ("jwks_uri", "http://login.example.com/k")]
)
def test_the_component_refuses_plain_http_token_sources(field: str, value: str) -> None:
    with pytest.raises(ValueError, match="https only"):
        _args([RoutedModel("a", "team-a", "a", pod_selector("a"))], None, **{field: value})


# --- config --------------------------------------------------------------------------------------


def _frankfurt(change: Any) -> dict[str, str]:
    return with_object(stack_config("frankfurt"), KEY, change)


@pytest.mark.parametrize("key", ["issuer", "jwksUri"])
def test_a_plain_http_issuer_or_jwks_is_a_config_error_naming_the_key(key: str) -> None:
    raw = _frankfurt(lambda d: d["gateway"]["jwt"].update({key: "http://login.example.com/"}))
    [problem] = problems_of(raw)
    assert problem.startswith(f"{KEY}.gateway.jwt.{key}: ") and "https://" in problem


def test_a_front_door_without_a_gateway_or_a_token_issuer_is_refused() -> None:
    assert problems_of(_frankfurt(lambda d: d.pop("gateway")))[0].startswith(f"{KEY}.gateway: ")
    assert problems_of(_frankfurt(lambda d: d["gateway"].pop("jwt")))[0].startswith(f"{KEY}.gateway.jwt: ")


def test_a_routed_model_the_stack_does_not_serve_is_refused() -> None:
    raw = _frankfurt(lambda d: d["gateway"].update(models=["llama-3-1-8b", "qwen25-32b"]))
    assert problems_of(raw) == [
        f"{KEY}.gateway.models[1]: qwen25-32b is not a model of this stack's inference (llama-3-1-8b)"
    ]


def test_a_restricted_model_for_an_aws_front_door_is_refused() -> None:
    routed = _frankfurt(lambda d: d["gateway"].update(models=["llama-3-1-8b"]))
    # Restricted by the model's own label: the AWS config already refuses it, at the model's key.
    own = with_object(routed, "hybrid-llm-infra:inference", lambda m: m[0].update(dataClassification="restricted"))
    assert problems_of(own) == [
        "hybrid-llm-infra:inference[0].dataClassification: restricted data stays on-prem; allowed on AWS: public, "
        "internal, confidential (got 'restricted')"
    ]
    # Restricted by the stack's classification (the model inherits it): the front door names its own key too.
    stack = with_object(routed, "hybrid-llm-infra:deployment", lambda d: d.update(dataClassification="restricted"))
    assert (
        f"{KEY}.gateway.models[0]: llama-3-1-8b is restricted; restricted data is served only on-prem"
        in problems_of(stack)
    )


def test_the_shipped_front_doors_route_every_model_of_their_stack() -> None:
    for stack in AWS:
        config = _config(stack)
        assert config.front_door is not None and config.front_door.gateway.models is None
        names = {r["metadata"]["name"] for r in _stack(stack, ROUTE)}
        assert names == {"healthz", *(f"model-{m.name}" for m in config.inference)}


@pytest.mark.parametrize("stack", AWS)
def test_the_listener_names_the_certificate_secret_the_stack_generates(stack: str) -> None:
    """No precondition left: the Gateway's certificate is the kubernetes.io/tls Secret the stack registers, in the
    Gateway's namespace, and the Gateway waits for it."""
    [gateway] = _stack(stack, "kubernetes:gateway.networking.k8s.io/v1:Gateway")
    [ref] = gateway["spec"]["listeners"][0]["tls"]["certificateRefs"]
    assert set(ref) == {"kind", "name"}  # the Gateway's own namespace
    secrets = [s for s in _stack(stack, "kubernetes:core/v1:Secret") if s["metadata"]["namespace"] == NAMESPACE]
    [secret] = [s for s in secrets if s["metadata"]["name"] == ref["name"]]
    assert secret["type"] == "kubernetes.io/tls" and ref["name"].startswith("front-door-backend-tls-")
    run = shipped_runs()[stack]
    [registered] = [
        r for r in run.resources if r.type == "kubernetes:core/v1:Secret" and r.name.endswith("backend-tls-secret")
    ]
    [gateway_resource] = [r for r in run.resources if r.type == "kubernetes:gateway.networking.k8s.io/v1:Gateway"]
    assert registered.urn in gateway_resource.dependencies  # the Gateway is created once its Secret exists


@pytest.mark.parametrize("stack", [*AWS, "onprem"])
def test_the_gateway_accepts_tls_1_2_and_1_3_only(stack: str) -> None:
    [policy] = _stack(stack, "kubernetes:gateway.envoyproxy.io/v1alpha1:ClientTrafficPolicy")
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert policy["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "front-door"}
    ]
    assert policy["spec"]["tls"] == {"minVersion": "1.2", "maxVersion": "1.3"}
    assert not list(errors(policy)), policy


@pytest.mark.parametrize("stack", [*AWS, "onprem"])
def test_no_cluster_wide_pod_webhook_and_the_controller_admits_only_the_proxies(stack: str) -> None:
    """Gateway Namespace Mode makes the chart's topology injector intercept every pod's binding in the cluster (no
    namespaceSelector, gateway-helm v1.6.7): it is off, and nothing but the proxies' xDS reaches the controller."""
    [release] = [
        r for r in shipped_runs()[stack].resources if r.type == HELM_RELEASE and r.inputs.get("name") == "envoy-gateway"
    ]
    assert release.inputs["values"]["topologyInjector"] == {"enabled": False}
    kubernetes = release.inputs["values"]["config"]["envoyGateway"]["provider"]["kubernetes"]
    assert kubernetes["proxyTopologyInjector"] == {"disabled": True}  # what the controller itself reads
    policies = [p for p in _stack(stack, POLICY) if p["metadata"]["namespace"] == "envoy-gateway-system"]
    [admit] = [p for p in policies if p["metadata"]["name"] == "admit-proxies"]
    [rule] = admit["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 18000}]
    [peer] = rule["from"]
    assert peer["podSelector"] == {"matchLabels": GATEWAY_SELECTOR}
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}}
