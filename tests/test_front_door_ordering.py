"""pulumi-kubernetes reports a Service ready only once pods it selects are ready (provider/pkg/await/service.go), so
the front-door Service, which selects the gateway's proxies, must come after whatever makes those proxies, and none
of that may wait for the Service: otherwise `pulumi up` waits ten minutes for pods that never come, then fails."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from infra.mocks import CapturedResource
from residency.kubernetes_manifests import HELM_RELEASE
from tests.stack_runs import shipped_runs

STACKS = ["frankfurt", "dubai", "onprem"]
MAKES_THE_PROXIES = (
    "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy",
    "kubernetes:gateway.networking.k8s.io/v1:GatewayClass",
    "kubernetes:gateway.networking.k8s.io/v1:Gateway",
)


def closure(resources: Iterable[CapturedResource], start: CapturedResource) -> set[str]:
    """Every URN ``start`` waits for, directly or through what it waits for."""
    by_urn = {r.urn: r for r in resources}
    seen: set[str] = set()
    todo = list(start.dependencies)
    while todo:
        urn = todo.pop()
        if urn in seen:
            continue
        seen.add(urn)
        if urn in by_urn:
            todo.extend(by_urn[urn].dependencies)
    return seen


def _entry_and_makers(stack: str) -> tuple[CapturedResource, list[CapturedResource]]:
    resources = shipped_runs()[stack].resources
    [service] = [
        r
        for r in resources
        if r.type == "kubernetes:core/v1:Service"
        and r.inputs["metadata"].get("namespace") == "front-door"
        and r.inputs["spec"].get("type") == "LoadBalancer"
    ]
    makers = [r for r in resources if r.type in MAKES_THE_PROXIES]
    makers += [r for r in resources if r.type == HELM_RELEASE and r.inputs.get("name") == "envoy-gateway"]
    assert len(makers) == 4
    return service, makers


@pytest.mark.parametrize("stack", STACKS)
def test_nothing_that_makes_the_proxies_waits_for_the_service_selecting_them(stack: str) -> None:
    service, makers = _entry_and_makers(stack)
    resources = shipped_runs()[stack].resources
    for maker in makers:
        assert service.urn not in closure(resources, maker), f"{maker.urn} waits for {service.urn}"


@pytest.mark.parametrize("stack", STACKS)
def test_the_service_comes_after_the_gateway(stack: str) -> None:
    service, makers = _entry_and_makers(stack)
    waits_for = closure(shipped_runs()[stack].resources, service)
    assert {m.urn for m in makers} <= waits_for


def test_closure_follows_dependencies_through_intermediate_resources() -> None:
    def node(urn: str, *deps: str) -> CapturedResource:
        return CapturedResource(urn, "t", urn, urn, None, None, True, {}, list(deps))

    a, b, c = node("a", "b"), node("b", "c"), node("c")
    assert closure([a, b, c], a) == {"b", "c"}
    assert closure([a, b, c], c) == set()


ENTRY_TYPES = {
    "frankfurt": "hybrid-llm-infra:front-door:FrontDoorEntry",
    "dubai": "hybrid-llm-infra:front-door:FrontDoorEntry",
    "onprem": "hybrid-llm-infra:front-door:SiteFrontDoorEntry",
}
"""The component that held the namespace until 61e8d77 (git show 61e8d77 -- components/)."""


@pytest.mark.parametrize("stack", STACKS)
def test_the_namespace_keeps_its_identity_from_when_the_entry_held_it(stack: str) -> None:
    """Moved out of the entry component (so the Service can come after the gateway): an alias to the old parent
    keeps a deployed stack's live namespace instead of a create-then-delete (and AlreadyExists)."""
    resources = shipped_runs()[stack].resources
    [entry] = [r for r in resources if r.type == ENTRY_TYPES[stack]]
    old_parent = f"urn:pulumi:{stack}::hybrid-llm-infra::{ENTRY_TYPES[stack]}::{entry.name}"
    moved = [r for r in resources if r.name in (f"{entry.name}-ns", f"{entry.name}-default-deny-ingress")]
    assert len(moved) == 2
    for resource in moved:
        assert {"spec": {"parentUrn": old_parent}} in resource.aliases, resource.aliases


@pytest.mark.parametrize("stack", STACKS)
def test_no_model_route_exists_before_the_policy_that_guards_it(stack: str) -> None:
    """A route created before its SecurityPolicy would serve the model, restricted data included, without a token
    until the policy landed: each model route waits for the policy that targets it."""
    resources = shipped_runs()[stack].resources
    policies = [r for r in resources if r.type == "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy"]
    routes = [
        r
        for r in resources
        if r.type == "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
        and r.inputs["metadata"]["name"].startswith("model-")
    ]
    assert routes and policies
    for route in routes:
        [guard] = [
            p
            for p in policies
            if route.inputs["metadata"]["name"] in {t["name"] for t in p.inputs["spec"]["targetRefs"]}
        ]
        assert guard.urn in closure(resources, route), f"{route.name} does not wait for {guard.name}"
