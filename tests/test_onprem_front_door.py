"""The on-prem site's front door: its load balancer keeps every AWS site's range out, the gateway ends the public
TLS with the site's certificate and routes to the site's (restricted) models, and bad input names its key."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from components.front_door_gateway import RoutedModel, SourceRange
from components.inference_service import pod_selector
from residency.front_door import PUBLIC_ENTRY_LABEL, PUBLIC_ENTRY_VALUE
from stackconfig import OnPremStackConfig, parse_stack_config
from stackconfig.addressing import aws_ranges
from stacks.front_door import GATEWAY_PORT, GATEWAY_SELECTOR, NAMESPACE
from stacks.onprem_front_door import public_ranges_except
from tests.crd_schema import errors
from tests.stack_runs import shipped_runs
from tests.test_config import problems_of, stack_config, with_object
from tests.test_front_door_gateway import _gateway as _component
from tests.test_front_door_gateway import _of, _stack, admitted, route_for
from tests.test_isolation_policy import stack_values

KEY = "hybrid-llm-infra:frontDoor"
SERVICE = "kubernetes:core/v1:Service"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
GRANT = "kubernetes:gateway.networking.k8s.io/v1beta1:ReferenceGrant"


def _config() -> OnPremStackConfig:
    config = parse_stack_config(stack_config("onprem"))
    assert isinstance(config, OnPremStackConfig)
    return config


def _nat_addresses() -> list[str]:
    """The AWS stacks' NAT gateway addresses, as their runs export them (natPublicIps)."""
    runs = shipped_runs()
    found = [ip for stack in ("frankfurt", "dubai") for ip in runs[stack].outputs["natPublicIps"]]
    assert len(found) == len(set(found)) >= 2
    return found


def _excluded() -> list[str]:
    """What the entry keeps out: the pack's awsCidrs (the address plan's AWS ranges) and every AWS NAT address."""
    return [*stack_values("onprem")["awsCidrs"], *(f"{ip}/32" for ip in _nat_addresses())]


def _addresses(cidrs: list[str]) -> int:
    return sum(ipaddress.IPv4Network(c).num_addresses for c in cidrs)


# --- the entry: the site's load balancer ----------------------------------------------------------


def test_the_entry_is_a_load_balancer_of_the_sites_class_on_443_only_keeping_callers_addresses() -> None:
    [service] = [s for s in _stack("onprem", SERVICE) if s["metadata"]["namespace"] == NAMESPACE]
    spec = service["spec"]
    assert spec["type"] == "LoadBalancer" and "loadBalancerClass" not in spec  # the site's default, as the models'
    models = [s for s in _stack("onprem", SERVICE) if s["spec"].get("type") == "LoadBalancer" and s is not service]
    assert models and all("loadBalancerClass" not in m["spec"] for m in models)
    assert service["metadata"]["annotations"] == {"metallb.io/loadBalancerIPs": "10.10.40.10"}
    assert spec["externalTrafficPolicy"] == "Local"  # the NetworkPolicy then sees each caller's own address
    # No node port: kube-proxy would not apply the source ranges to it (reachable on every node, over the VPN too).
    assert spec["allocateLoadBalancerNodePorts"] is False
    assert spec["selector"] == GATEWAY_SELECTOR
    assert spec["ports"] == [{"name": "https", "port": 443, "targetPort": GATEWAY_PORT, "protocol": "TCP"}]
    assert service["metadata"]["labels"][PUBLIC_ENTRY_LABEL] == PUBLIC_ENTRY_VALUE


def test_the_entrys_source_ranges_are_all_of_ipv4_but_every_aws_range_and_nat_address() -> None:
    [service] = [s for s in _stack("onprem", SERVICE) if s["metadata"]["namespace"] == NAMESPACE]
    ranges = service["spec"]["loadBalancerSourceRanges"]
    excluded = _excluded()
    assert sorted(stack_values("onprem")["awsCidrs"]) == sorted(aws_ranges(_config().address_plan))
    networks = [ipaddress.IPv4Network(r) for r in ranges]
    for cidr in excluded:
        assert not [str(n) for n in networks if n.overlaps(ipaddress.IPv4Network(cidr))], cidr
    # Disjoint, and together with the AWS ranges exactly the whole IPv4 space: nothing else is left out.
    assert _addresses(ranges) + _addresses(excluded) == 2**32
    assert list(ipaddress.collapse_addresses(networks)) == networks
    # The AWS regions' NAT addresses are out; a public address (a Route 53 health checker, a client) and the
    # site's own networks are in.
    for ip in _nat_addresses():
        assert not any(ipaddress.IPv4Address(ip) in n for n in networks), ip
    assert any(ipaddress.IPv4Address("54.93.1.1") in n for n in networks)
    assert any(ipaddress.IPv4Address("10.10.3.4") in n for n in networks)


def test_public_ranges_except_is_the_exact_complement() -> None:
    assert public_ranges_except([]) == ["0.0.0.0/0"]
    assert public_ranges_except(["128.0.0.0/1"]) == ["0.0.0.0/1"]
    assert public_ranges_except(["10.0.0.0/8", "10.20.0.0/16"]) == public_ranges_except(["10.0.0.0/8"])
    ranges = public_ranges_except(["10.20.0.0/16", "169.254.10.0/30"])
    assert _addresses(ranges) == 2**32 - 2**16 - 4
    assert not any(ipaddress.IPv4Network(r).overlaps(ipaddress.IPv4Network("169.254.10.0/30")) for r in ranges)


def test_the_gateway_admits_every_source_but_the_aws_ranges_and_nat_addresses_and_only_to_the_proxies() -> None:
    policies = [p for p in _stack("onprem", POLICY) if p["metadata"]["namespace"] == NAMESPACE]
    [entry] = [p for p in policies if p["metadata"].get("labels", {}).get(PUBLIC_ENTRY_LABEL) == PUBLIC_ENTRY_VALUE]
    assert entry["spec"]["podSelector"] == {"matchLabels": GATEWAY_SELECTOR}
    [rule] = entry["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": GATEWAY_PORT}]
    [peer] = rule["from"]
    assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert sorted(peer["ipBlock"]["except"]) == sorted(_excluded())
    # The namespace starts from deny-all: the entry's rule is the only way in.
    assert any(p["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]} for p in policies)


def test_the_entry_takes_the_class_of_the_sites_model_services_unless_told_otherwise() -> None:
    from stacks.onprem_front_door import entry_load_balancer_class

    raw = with_object(
        stack_config("onprem"),
        "hybrid-llm-infra:kubernetes",
        lambda k: k.update(serviceExposure={"loadBalancerClass": "f5.com/bigip"}),
    )
    config = parse_stack_config(raw)
    assert isinstance(config, OnPremStackConfig)
    assert entry_load_balancer_class(config) == "f5.com/bigip"
    own = with_object(raw, KEY, lambda d: d["loadBalancer"].update({"class": "metallb.io/metallb"}))
    config = parse_stack_config(own)
    assert isinstance(config, OnPremStackConfig)
    assert entry_load_balancer_class(config) == "metallb.io/metallb"
    assert entry_load_balancer_class(_config()) is None


# --- the gateway: the public certificate and routes to the site's models ------------------------------


def test_the_listener_ends_tls_with_the_sites_certificate_from_the_gateways_namespace() -> None:
    [gateway] = [g for g in _stack("onprem", GATEWAY)]
    [listener] = gateway["spec"]["listeners"]
    assert listener["port"] == 443 and listener["protocol"] == "HTTPS"
    assert listener["tls"] == {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "front-door-tls"}]}
    assert "hostname" not in listener  # Route 53 probes with the jurisdiction's name; clients with either name
    # The certificate is in the gateway's own namespace: no grant to read it is needed or made.
    assert not [g for g in _stack("onprem", GRANT) if g["spec"]["to"][0]["kind"] == "Secret"]


def test_the_site_routes_its_restricted_models_and_nothing_else() -> None:
    routes = [r for r in _stack("onprem", ROUTE) if r["metadata"]["namespace"] == NAMESPACE]
    assert route_for(routes, "/models/llama-31-8b/v1/chat/completions") == (
        "inference/llama-31-8b",
        "8000",
        "/v1/chat/completions",
    )
    assert route_for(routes, "/models/qwen25-32b/v1/models") == ("inference/qwen25-32b", "8000", "/v1/models")
    assert route_for(routes, "/models/llama-3-1-8b/v1/completions") is None  # Frankfurt's model: not here
    assert route_for(routes, "/v1/chat/completions") is None
    assert route_for(routes, "/healthz") == ("<direct response>", "", "/healthz")
    policies = [p for p in _stack("onprem", POLICY) if p["metadata"]["namespace"] == "inference"]
    proxies = (NAMESPACE, dict(GATEWAY_SELECTOR))
    assert admitted(policies, pod_selector("llama-31-8b"), proxies, 8000)
    assert not admitted(policies, pod_selector("llama-31-8b"), (NAMESPACE, {"app": "other"}), 8000)


def _gateway(certificate_namespace: str | None) -> None:
    _component(
        [RoutedModel("a", "team-a", "a", pod_selector("a"))],
        entry_sources=[SourceRange("0.0.0.0/0", ["10.20.0.0/16"])],
        listener_certificate_secret="public-tls",
        listener_certificate_namespace=certificate_namespace,
    )


def test_a_certificate_kept_elsewhere_is_read_through_a_grant_of_its_namespace(mock_stack: Any) -> None:
    _gateway("pki")
    mock_stack.settle()
    resources = list(mock_stack.capture.resources.values())
    [gateway] = _of(resources, GATEWAY)
    assert gateway["spec"]["listeners"][0]["tls"]["certificateRefs"] == [
        {"kind": "Secret", "name": "public-tls", "namespace": "pki"}
    ]
    [grant] = [g for g in _of(resources, GRANT) if g["metadata"]["namespace"] == "pki"]
    assert grant["spec"] == {
        "from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": NAMESPACE}],
        "to": [{"group": "", "kind": "Secret", "name": "public-tls"}],
    }
    for manifest in (gateway, grant):
        assert not list(errors(manifest)), manifest
    [entry] = [p for p in _of(resources, POLICY) if p["metadata"]["name"] == "admit-load-balancer"]
    assert entry["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.20.0.0/16"]}}]


def test_a_certificate_in_the_gateways_namespace_needs_no_grant(mock_stack: Any) -> None:
    _gateway(NAMESPACE)
    mock_stack.settle()
    resources = list(mock_stack.capture.resources.values())
    assert not [g for g in _of(resources, GRANT) if g["spec"]["to"][0]["kind"] == "Secret"]
    [gateway] = _of(resources, GATEWAY)
    assert gateway["spec"]["listeners"][0]["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "public-tls"}]


# --- config ----------------------------------------------------------------------------------------


def onprem_with(change: Any) -> dict[str, str]:
    return with_object(stack_config("onprem"), KEY, change)


def test_the_shipped_site_front_door_parses() -> None:
    door = _config().front_door
    assert door is not None
    assert door.hostnames == ["eu.models.example.com", "onprem.eu.models.example.com"]
    assert door.certificate.name == "front-door-tls" and door.certificate.namespace == NAMESPACE
    assert door.gateway.models is None  # every model of the site


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("certificate"), f"{KEY}.certificate: required"),
        (lambda d: d["gateway"]["jwt"].update(issuer="http://login.example.com/"), f"{KEY}.gateway.jwt.issuer:"),
        (lambda d: d["gateway"].update(models=["mistral-7b"]), f"{KEY}.gateway.models[0]: mistral-7b is not a model"),
        (lambda d: d["certificate"].update(namespace="inference"), f"{KEY}.certificate.namespace: 'inference' is"),
        (lambda d: d["loadBalancer"].update({"class": "metallb.io/"}), f"{KEY}.loadBalancer.class:"),
        (lambda d: d.update(hostnames=[]), f"{KEY}.hostnames:"),
        (lambda d: d.update(hostnames=["eu.models.example.com"] * 2), f"{KEY}.hostnames:"),
        (lambda d: d.update(hostnames=["*.models.example.com"]), f"{KEY}.hostnames[0]:"),
        (lambda d: d["loadBalancer"].update(annotations={"pulumi.com/skipAwait": "true"}), f"{KEY}.loadBalancer"),
        (lambda d: d.update(listeners=[]), f"{KEY}.listeners:"),
    ],
)
def test_bad_site_front_door_input_names_its_key(change: Any, expected: str) -> None:
    [problem] = problems_of(onprem_with(change))
    assert problem.startswith(expected), problem


def test_a_restricted_model_may_be_routed_on_prem() -> None:
    raw = onprem_with(lambda d: d["gateway"].update(models=["llama-31-8b"]))
    config = parse_stack_config(raw)
    assert isinstance(config, OnPremStackConfig) and config.front_door is not None
    assert config.front_door.gateway.models == ["llama-31-8b"]


def test_the_front_door_namespace_cannot_be_an_inference_namespace() -> None:
    raw = with_object(
        stack_config("onprem"), "hybrid-llm-infra:kubernetes", lambda k: k["namespaces"].append(NAMESPACE)
    )
    expected = "hybrid-llm-infra:kubernetes.namespaces: 'front-door' is reserved for the front door"
    assert expected in " ".join(problems_of(raw))
    # Reserved with or without a front door: the isolation control trusts the public-entry label only there.
    without = {k: v for k, v in raw.items() if k != KEY}
    assert expected in " ".join(problems_of(without))


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("onprem.eu.models.example.org", "is not inside the zone models.example.com"),
        ("eu.models.example.com", "is the jurisdiction's hostname"),
    ],
)
def test_a_bad_site_hostname_on_the_aws_side_is_refused(hostname: str, expected: str) -> None:
    raw = with_object(stack_config("frankfurt"), KEY, lambda d: d["secondary"].update(hostname=hostname))
    [problem] = problems_of(raw)
    assert problem.startswith(f"{KEY}.secondary.hostname: {hostname} ") and expected in problem


def test_a_peer_without_its_nat_addresses_fails_the_run_instead_of_admitting_them() -> None:
    """``require_output``: an AWS stack not yet re-deployed with ``natPublicIps`` stops the on-prem preview."""
    from infra.engine import run_stack
    from infra.mocks import StackOutputs
    from infra.project import load_project
    from tests.stack_runs import ROOT

    project = load_project(ROOT)
    runs = shipped_runs()
    references = {name: runs[name].as_reference() for name in ("frankfurt", "dubai")}
    old = references["frankfurt"]
    references["frankfurt"] = StackOutputs(
        values={k: v for k, v in old.values.items() if k != "natPublicIps"}, secret_names=old.secret_names
    )
    run = run_stack(project, project.stack("onprem"), references)
    assert not run.ok
    assert "natPublicIps" in " ".join([*run.problems, run.crash or ""])
    complete = run_stack(project, project.stack("onprem"), {n: runs[n].as_reference() for n in ("frankfurt", "dubai")})
    assert complete.ok, complete.problems or complete.crash


# --- restricted data at the door: a valid token is not enough ---------------------------------------------

SECURITY = "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy"


def door_answer(policies: list[dict[str, Any]], route: str, token: dict[str, Any] | None) -> int:
    """What Envoy Gateway answers for a request on ``route`` with ``token`` (None: no valid token), by the
    SecurityPolicy that targets the route (v1.6.7): its JWT providers are required (not ``optional``), so 401
    without a valid token; then its authorization (rules in order, first match wins, default Deny) decides 403 or
    through (200). A claim rule reads the payload its named provider stored (internal/xds/translator/
    authorization.go): a rule naming no provider of the policy matches nobody. StringArray: any configured value in
    the token's list; String: the token's value equals one of them."""
    [policy] = [p for p in policies if any(t["name"] == route for t in p["spec"]["targetRefs"])]
    jwt = policy["spec"]["jwt"]
    providers = {p["name"] for p in jwt["providers"]}
    assert providers and not jwt.get("optional", False), "no required JWT provider: anonymous callers get through"
    if token is None:
        return 401
    authorization = policy["spec"].get("authorization")
    if authorization is None:
        return 200

    def holds(claim: dict[str, Any]) -> bool:
        value = token.get(claim["name"])
        if claim.get("valueType", "String") == "StringArray":
            return isinstance(value, list) and bool(set(claim["values"]) & set(value))
        return isinstance(value, str) and value in claim["values"]

    for rule in authorization["rules"]:
        principal = rule["principal"]["jwt"]
        if principal["provider"] in providers and all(holds(c) for c in principal["claims"]):
            return 200 if rule["action"] == "Allow" else 403
    return 200 if authorization.get("defaultAction", "Deny") == "Allow" else 403


def test_restricted_models_on_prem_need_the_entitling_claim_as_well_as_a_token() -> None:
    policies = [p for p in _stack("onprem", SECURITY) if p["metadata"]["namespace"] == NAMESPACE]
    assert [p["metadata"]["name"] for p in policies] == ["require-jwt-and-entitlement"]
    entitled = {"sub": "alice", "groups": ["staff", "restricted-data-processors"]}
    for route in ("model-llama-31-8b", "model-qwen25-32b"):
        assert door_answer(policies, route, None) == 401
        assert door_answer(policies, route, {"sub": "bob", "groups": ["staff"]}) == 403
        assert door_answer(policies, route, {"sub": "carol"}) == 403
        assert door_answer(policies, route, entitled) == 200
    for policy in policies:
        assert not list(errors(policy)), policy


@pytest.mark.parametrize("stack", ["frankfurt", "dubai", "onprem"])
def test_every_model_route_has_exactly_one_security_policy(stack: str) -> None:
    """Envoy Gateway applies only the oldest of two SecurityPolicies on one route: each route gets one."""
    routes = [r["metadata"]["name"] for r in _stack(stack, ROUTE) if r["metadata"]["name"].startswith("model-")]
    targeted = [t["name"] for p in _stack(stack, SECURITY) for t in p["spec"]["targetRefs"]]
    assert routes and sorted(targeted) == sorted(routes)


def test_a_gateway_mixing_open_and_restricted_models_splits_the_policies(mock_stack: Any) -> None:
    from components.front_door_args import ClaimRule

    _component(
        [
            RoutedModel("open", "team-a", "open", pod_selector("open")),
            RoutedModel("personal", "team-b", "personal", pod_selector("personal"), restricted=True),
        ],
        restricted_access=ClaimRule("roles", ["dpo-approved"], "StringArray"),
    )
    mock_stack.settle()
    policies = _of(list(mock_stack.capture.resources.values()), SECURITY)
    assert door_answer(policies, "model-open", {"sub": "x"}) == 200
    assert door_answer(policies, "model-personal", {"sub": "x"}) == 403
    assert door_answer(policies, "model-personal", {"sub": "x", "roles": ["dpo-approved"]}) == 200
    for policy in policies:
        assert not list(errors(policy)), policy


def test_a_restricted_model_without_an_entitling_claim_is_refused_by_the_component(mock_stack: Any) -> None:
    with pytest.raises(ValueError, match="need restricted_access"):
        _component([RoutedModel("personal", "team-b", "personal", pod_selector("personal"), restricted=True)])


def test_the_site_needs_the_entitling_claim_where_it_routes_restricted_models() -> None:
    raw = onprem_with(lambda d: d["gateway"]["jwt"].pop("restrictedAccess"))
    [problem] = problems_of(raw)
    assert problem.startswith(
        f"{KEY}.gateway.jwt.restrictedAccess: required: the site routes restricted models (llama-31-8b, qwen25-32b)"
    )
    bad = onprem_with(lambda d: d["gateway"]["jwt"]["restrictedAccess"].update(values=[]))
    assert problems_of(bad)[0].startswith(f"{KEY}.gateway.jwt.restrictedAccess.values:")
    # Envoy Gateway reads a dot as a nested claim path: a URL-style claim would match nobody.
    dotted = onprem_with(
        lambda d: d["gateway"]["jwt"]["restrictedAccess"].update(claim="https://login.example.com/groups")
    )
    assert problems_of(dotted)[0].startswith(f"{KEY}.gateway.jwt.restrictedAccess.claim:")


def test_an_aws_front_door_has_no_use_for_an_entitling_claim() -> None:
    raw = with_object(
        stack_config("frankfurt"),
        KEY,
        lambda d: d["gateway"]["jwt"].update(restrictedAccess={"claim": "groups", "values": ["x"]}),
    )
    assert problems_of(raw) == [
        f"{KEY}.gateway.jwt.restrictedAccess: no restricted model is routed on AWS (restricted data is served only "
        "on-prem); remove it"
    ]


def test_the_door_evaluator_can_say_no() -> None:
    """The evaluator itself: a rule naming another provider entitles nobody, String claims match whole values, and a
    policy without a required provider is refused outright."""
    rule = {"name": "r", "action": "Allow", "principal": {"jwt": {"provider": "other", "claims": []}}}
    spec = {
        "targetRefs": [{"name": "model-x"}],
        "jwt": {"providers": [{"name": "issuer"}]},
        "authorization": {"defaultAction": "Deny", "rules": [rule]},
    }
    assert door_answer([{"spec": spec}], "model-x", {"sub": "a"}) == 403
    claims = [{"name": "tier", "valueType": "String", "values": ["gold"]}]
    rule["principal"] = {"jwt": {"provider": "issuer", "claims": claims}}
    assert door_answer([{"spec": spec}], "model-x", {"tier": "gold"}) == 200
    assert door_answer([{"spec": spec}], "model-x", {"tier": "golden"}) == 403
    assert door_answer([{"spec": spec}], "model-x", {"tier": ["gold"]}) == 403
    optional = {**spec, "jwt": {"providers": [{"name": "issuer"}], "optional": True}}
    with pytest.raises(AssertionError, match="anonymous"):
        door_answer([{"spec": optional}], "model-x", None)
