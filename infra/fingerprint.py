"""Non-reversible fingerprints of secret values, so that ``infra diff`` can tell a secret changed.

A plain hash of a short secret (a PSK, a token) is guessable by brute force, so the fingerprint
is an HMAC-SHA256 keyed by ``INFRA_SECRET_FINGERPRINT_KEY``. ``infra diff`` sets a fresh random
key for the two ``infra check`` runs of one invocation and never prints it or the fingerprints;
without the variable nothing is emitted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

KEY_ENV = "INFRA_SECRET_FINGERPRINT_KEY"
DIGEST_CHARS = 32


def fingerprint_key() -> bytes | None:
    key = os.environ.get(KEY_ENV)
    return key.encode("utf-8") if key else None


def pointer(parts: list[str | int]) -> str:
    """An RFC 6901 JSON pointer (``/tags/kubernetes.io~1role``)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _canonical(value: Any) -> bytes:
    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    return json.dumps(norm(value), sort_keys=True, separators=(",", ":")).encode("utf-8")


def digest(key: bytes, value: Any) -> str:
    return hmac.new(key, _canonical(value), hashlib.sha256).hexdigest()[:DIGEST_CHARS]


def secret_fingerprints(value: Any, key: bytes | None = None) -> dict[str, str]:
    """JSON pointer of every secret in ``value`` (wire form) to its keyed fingerprint; {} without a key."""
    key = key if key is not None else fingerprint_key()
    if key is None:
        return {}
    found: dict[str, str] = {}

    def walk(v: Any, parts: list[str | int]) -> None:
        if isinstance(v, dict):
            if v.get(_special_sig_key) == _special_secret_sig:
                found[pointer(parts)] = digest(key, v.get("value"))
                return
            for k, x in v.items():
                walk(x, [*parts, k])
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, [*parts, i])

    walk(value, [])
    return found


def resource_fingerprint_fields(inputs: dict[str, Any]) -> dict[str, Any]:
    """``{"secretFingerprints": {...}}`` for a resource's inventory entry, or {} when there is none."""
    found = secret_fingerprints(inputs)
    return {"secretFingerprints": found} if found else {}


def output_fingerprint_fields(outputs: dict[str, Any], secret_names: frozenset[str]) -> dict[str, Any]:
    """``{"secretOutputFingerprints": {name: ...}}`` for a stack's secret exports, or {} when there is none."""
    key = fingerprint_key()
    if key is None:
        return {}
    found = {name: digest(key, outputs[name]) for name in sorted(secret_names) if name in outputs}
    return {"secretOutputFingerprints": found} if found else {}
