"""Config of the on-prem site's public front-door entry: the site's load balancer, certificate and gateway.

Key: ``hybrid-llm-infra:frontDoor`` on the on-prem stack (absent: the site has no public entry). The site is the
secondary of its jurisdiction's hostname (the AWS stack's ``frontDoor.secondary`` names its public address) and may
answer further names of its own (e.g. a name for the restricted models only it serves). TLS for the public names
ends at the site's gateway, with a certificate the site's PKI or cert-manager keeps in a Secret (README, "The front
door": why the stack does not issue it). Self-contained (pydantic + stdlib + stackconfig); the checks across keys
are ``onprem_front_door_problems``. Defaults live here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import Field, field_validator

from residency.front_door import PUBLIC_ENTRY_NAMESPACE
from stackconfig.errors import Problem
from stackconfig.front_door import GatewayConfig, Hostname, _Model
from stackconfig.onprem_cluster import LoadBalancerClass
from stackconfig.types import DnsLabel

FRONT_DOOR_NAMESPACE = PUBLIC_ENTRY_NAMESPACE
"""Where the gateway's proxies and the entry Service run, on every site; never a model's namespace."""


class CertificateSecretRef(_Model):
    """The kubernetes.io/tls Secret with the certificate of every name in ``hostnames`` (a precondition)."""

    name: DnsLabel = Field(description="The Secret's name.")
    namespace: DnsLabel = Field(
        default=FRONT_DOOR_NAMESPACE,
        description="Its namespace; another than front-door gets a ReferenceGrant letting the Gateway read it.",
    )


class SiteLoadBalancerConfig(_Model):
    """The Service of type LoadBalancer the site's implementation (MetalLB, F5, Cilium, ...) turns into the entry."""

    load_balancer_class: LoadBalancerClass | None = Field(
        default=None,
        alias="class",
        description="spec.loadBalancerClass (unset: kubernetes.serviceExposure.loadBalancerClass, the class the "
        "site's model Services use).",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations for the implementation, e.g. metallb.io/loadBalancerIPs for a fixed address.",
    )
    allocate_node_ports: bool = Field(
        default=False,
        description="spec.allocateLoadBalancerNodePorts: only for implementations that forward to node ports (e.g. an "
        "external appliance in NodePort mode); a node port is reachable on every node, past loadBalancerSourceRanges.",
    )

    @field_validator("annotations")
    @classmethod
    def _no_platform_keys(cls, annotations: dict[str, str]) -> dict[str, str]:
        for key in annotations:
            if key.startswith(("kubectl.kubernetes.io/", "pulumi.com/")):
                raise ValueError(f"{key}: reserved for kubectl/Pulumi")
        return annotations


class OnPremFrontDoorConfig(_Model):
    """The site's public entry: its load balancer on 443, Envoy Gateway terminating TLS, JWT, routes to its models."""

    hostnames: list[Hostname] = Field(
        min_length=1,
        description="Public names the site answers (its jurisdiction's hostname, which fails over here, and any of "
        "its own); the certificate must cover each.",
    )
    certificate: CertificateSecretRef = Field(description="The TLS Secret for hostnames (required: no plain HTTP).")
    load_balancer: SiteLoadBalancerConfig = Field(default_factory=SiteLoadBalancerConfig)
    gateway: GatewayConfig = Field(description="The gateway (required: its JWT issuer).")

    @field_validator("hostnames")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("hostnames must be unique")
        return names


def onprem_front_door_problems(
    path: str,
    door: OnPremFrontDoorConfig | None,
    models: Sequence[str],
    taken: Mapping[str, str],
    restricted: Sequence[str] = (),
) -> list[Problem]:
    """front-door is not a namespace the stack uses for something else (front door or not: the isolation control
    trusts the public-entry label there only); the routed models are the site's."""
    problems = []
    if FRONT_DOOR_NAMESPACE in taken:
        problems.append(
            Problem(taken[FRONT_DOOR_NAMESPACE], f"{FRONT_DOOR_NAMESPACE!r} is reserved for the front door ({path})")
        )
    if door is None:
        return problems
    for i, name in enumerate(door.gateway.models or []):
        if name not in models:
            problems.append(
                Problem(
                    f"{path}.gateway.models[{i}]",
                    f"{name} is not a model of {path.rsplit(':', 1)[0]}:kubernetes.models ({', '.join(models)})",
                )
            )
    routed = [m for m in restricted if door.gateway.models is None or m in door.gateway.models]
    if routed and door.gateway.jwt.restricted_access is None:
        problems.append(
            Problem(
                f"{path}.gateway.jwt.restrictedAccess",
                f"required: the site routes restricted models ({', '.join(routed)}); name the claim that entitles a "
                "caller to restricted data (any valid token is not enough)",
            )
        )
    if door.certificate.namespace in taken:
        problems.append(
            Problem(
                f"{path}.certificate.namespace",
                f"{door.certificate.namespace!r} is {taken[door.certificate.namespace]}; keep the certificate in "
                f"{FRONT_DOOR_NAMESPACE} or a namespace of its own",
            )
        )
    return problems
