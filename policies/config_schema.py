"""The pack's policy config: what every policy accepts, with defaults (JSON schema, as the CLI validates it).

Thresholds and allowlists live here, not in the rules. Every policy accepts the *common* keys (the date
exemptions are judged against and where the stack is); a policy with its own knobs adds them. The
``policy-exemption`` policy re-runs every check on exempted resources, so it accepts every key.

``infra check`` fills the common keys from each stack's validated config (see ``infra/policy_check.py``);
with the Pulumi CLI, set them in a ``--policy-pack-config`` file, e.g.
``{"all": "mandatory", "log-encryption-retention": {"maxRetentionDays": 90, "stackJurisdiction": "EU"}}``.
"""

from __future__ import annotations

from typing import Any

from residency import JURISDICTIONS

JURISDICTION_IDS = sorted(JURISDICTIONS)

COMMON: dict[str, dict[str, Any]] = {
    "today": {
        "type": "string",
        "pattern": r"^(\d{4}-\d{2}-\d{2})?$",
        "default": "",
        "description": "The date exemptions are judged against (YYYY-MM-DD); empty means the real date.",
    },
    "stackJurisdiction": {
        "type": "string",
        "enum": ["", *JURISDICTION_IDS],
        "default": "",
        "description": "The jurisdiction of the stack under analysis (empty: judge each resource alone).",
    },
    "onpremJurisdiction": {
        "type": "string",
        "enum": JURISDICTION_IDS,
        "default": "EU",
        "description": "The jurisdiction of the on-prem site (where Kubernetes objects not on EKS run).",
    },
    "defaultAwsRegion": {
        "type": "string",
        "default": "",
        "description": "The region of resources that use the default AWS provider (the stack's aws:region).",
    },
}

SPECIFIC: dict[str, dict[str, dict[str, Any]]] = {
    "log-encryption-retention": {
        "maxRetentionDays": {
            "type": "integer",
            "minimum": 1,
            "default": 365,
            "description": "Longest retention a log group may keep (storage limitation).",
        },
    },
    "no-open-inference-ingress": {
        "inferencePorts": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 65535},
            "default": [8000, 8001, 8002, 8080, 8443, 11434],
            "description": "TCP ports that serve inference (vLLM, Triton, TGI, Ollama).",
        },
    },
    "k8s-pod-security": {
        "allowedRegistries": {
            "type": "array",
            "items": {"type": "string"},
            "default": [
                "docker.io/vllm/",
                "docker.io/strongx509/",
                "quay.io/frrouting/",  # the FRR project's own registry (the VPN gateway's bgpd)
                "nvcr.io/nvidia/",
                "registry.k8s.io/",
            ],
            "description": "Image reference prefixes (after normalising e.g. 'vllm/x' to 'docker.io/vllm/x').",
        },
    },
    "namespace-default-deny": {
        "requireEgressDeny": {
            "type": "boolean",
            "default": False,
            "description": "Also require the default-deny policy to cover Egress (not only Ingress).",
        },
    },
    "restricted-model-isolated": {
        "onpremCidrs": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "The on-prem networks (addressPlan.onprem.cidrs): the only sources a restricted model may "
            "admit by address (empty: none may).",
        },
        "awsCidrs": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Every AWS site's VPC CIDR and VPN inside CIDRs (addressPlan.awsSites).",
        },
    },
    "metrics-remote-write-in-jurisdiction": {
        "remoteWriteJurisdictions": {
            "type": "object",
            "additionalProperties": {"type": "string", "enum": JURISDICTION_IDS},
            "default": {},
            "description": "Jurisdiction of each remote-write receiver host that is not an AWS regional endpoint "
            "(infra check fills it from the stack's metrics.remoteWrite).",
        },
    },
    "front-door-stays-in-jurisdiction": {
        "frontDoorSites": {
            "type": "object",
            "additionalProperties": {"type": "string", "enum": JURISDICTION_IDS},
            "default": {},
            "description": "Jurisdiction of each public front-door address or host that is not an AWS regional "
            "name (infra check fills it from the stack's frontDoor.secondary).",
        },
    },
    "vpn-crypto": {
        "minDhGroup": {
            "type": "integer",
            "minimum": 14,
            "default": 14,
            "description": "Lowest Diffie-Hellman group a tunnel may offer.",
        },
    },
}


def schema_properties(policy: str) -> dict[str, dict[str, Any]]:
    """The config properties ``policy`` accepts."""
    if policy == "policy-exemption":
        merged = dict(COMMON)
        for extra in SPECIFIC.values():
            merged.update(extra)
        return merged
    return {**COMMON, **SPECIFIC.get(policy, {})}


def defaults(policy: str) -> dict[str, Any]:
    return {key: spec["default"] for key, spec in schema_properties(policy).items()}
