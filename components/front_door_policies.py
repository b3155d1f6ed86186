"""The specs of the front door's Envoy Gateway policies: who may call (JWT, and for restricted models an entitling
claim) and how requests are limited and balanced. Pure functions; components/front_door_gateway.py registers them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.front_door_args import SUB_HEADER, ClaimRule, FrontDoorGatewayArgs

PROVIDER = "issuer"


def route_targets(names: Sequence[str]) -> list[dict[str, str]]:
    return [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": f"model-{n}"} for n in names]


def security_policy_spec(
    targets: list[dict[str, str]], args: FrontDoorGatewayArgs, entitled: ClaimRule | None = None
) -> dict[str, Any]:
    """A valid token from the issuer on every request (no anonymous access: 401 without one); with ``entitled``,
    also the claim, or 403 (authorization's default action Deny; Envoy Gateway v1.6.7 SecurityPolicy
    ``authorization.rules[].principal.jwt.claims``, evaluated after the JWT filter)."""
    spec: dict[str, Any] = {
        "targetRefs": targets,
        "jwt": {
            "providers": [
                {
                    "name": PROVIDER,
                    "issuer": args.jwt_issuer,
                    **({"audiences": list(args.jwt_audiences)} if args.jwt_audiences else {}),
                    "remoteJWKS": {"uri": args.jwks_uri},
                    "claimToHeaders": [{"claim": "sub", "header": SUB_HEADER}],
                }
            ]
        },
    }
    if entitled is not None:
        spec["authorization"] = {
            "defaultAction": "Deny",
            "rules": [
                {
                    "name": "entitled-to-restricted-data",
                    "action": "Allow",
                    "principal": {
                        "jwt": {
                            "provider": PROVIDER,
                            "claims": [
                                {
                                    "name": entitled.claim,
                                    "valueType": entitled.value_type,
                                    "values": list(entitled.values),
                                }
                            ],
                        }
                    },
                }
            ],
        }
    return spec


def traffic_policy_spec(targets: list[dict[str, str]], args: FrontDoorGatewayArgs) -> dict[str, Any]:
    return {
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
    }
