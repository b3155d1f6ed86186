"""Decode each Analyze request once, not once per policy (a pure speed-up of pulumi-policy 1.21's servicer).

``_PolicyAnalyzerServicer.Analyze`` decodes the request's properties (``MessageToDict``, then
``deserialize_properties``, then ``unknown_checking_proxy``) and the provider's properties *inside its loop over
policies*: with 12 resource policies that is 12 identical decodings per resource, about 90% of the pack's
cost.  This module memoises those three steps on the identity of their input, per thread, one request at a
time (the cache holds the request's message, so its identity cannot be reused while cached).  The values the
policies see are the same objects the SDK would build, only built once; the policies never mutate them.
Remediate (``deserialize_properties(..., True)``) is not cached.  The servicer's ``_get_resource_options`` and
``_get_provider_resource`` (rebuilt from the same request for every policy, the provider's properties decoded
each time) are memoised the same way, on the identity of the request; a provider is also shared between
requests that carry it byte-for-byte identical (see ``_provider_by_content``).  Installed only when the pack process
runs (``policies/__main__.py``), guarded on the SDK version it was written against.
"""

from __future__ import annotations

import threading
from typing import Any

_SLOTS = 4


class _Memo(threading.local):
    def __init__(self) -> None:
        self.entries: list[tuple[Any, Any]] = []


def _memoise(function: Any) -> Any:
    memo = _Memo()

    def cached(value: Any, *rest: Any, **kwargs: Any) -> Any:
        if rest or kwargs:
            return function(value, *rest, **kwargs)
        entries = memo.entries
        if entries and entries[0][0] is value:  # the common case: the same request, policy after policy
            return entries[0][1]
        for key, result in entries:
            if key is value:
                return result
        result = function(value)
        entries.insert(0, (value, result))
        del entries[_SLOTS:]
        return result

    return cached


def _memoise_method(method: Any) -> Any:
    """``method(self, request)`` memoised on the identity of ``request`` (the servicer is a singleton)."""
    memo = _Memo()

    def cached(self: Any, request: Any) -> Any:
        entries = memo.entries
        if entries and entries[0][0] is request:
            return entries[0][1]
        for key, result in entries:
            if key is request:
                return result
        result = method(self, request)
        entries.insert(0, (request, result))
        del entries[_SLOTS:]
        return result

    return cached


_PROVIDERS_KEPT = 64


def _provider_by_content(method: Any) -> Any:
    """``_get_provider_resource`` shared between requests whose provider is byte-for-byte the same.

    A stack has a handful of providers and every resource names one: decoding its properties once per
    provider instead of once per resource.  The key is the provider's type, URN, name and deterministic
    serialisation of its properties, so equal keys decode to equal values.
    """
    cache: dict[tuple[str, str, str, bytes], Any] = {}

    def cached(self: Any, request: Any) -> Any:
        if not request.HasField("provider"):
            return method(self, request)
        provider = request.provider
        key = (provider.type, provider.urn, provider.name, provider.properties.SerializeToString(deterministic=True))
        result = cache.get(key)
        if result is None:
            result = method(self, request)
            if len(cache) >= _PROVIDERS_KEPT:
                cache.clear()
            cache[key] = result
        return result

    return cached


class _JsonFormat:
    """``google.protobuf.json_format`` with a memoised ``MessageToDict``."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self.MessageToDict = _memoise(module.MessageToDict)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def install() -> bool:
    """Patch the servicer module's references; False (and nothing patched) on an SDK this was not written for."""
    from pulumi_policy import policy
    from pulumi_policy.version import VERSION

    if not VERSION.startswith("1.21.") or isinstance(policy.json_format, _JsonFormat):
        return False
    policy.json_format = _JsonFormat(policy.json_format)  # type: ignore[assignment]
    policy.deserialize_properties = _memoise(policy.deserialize_properties)
    policy.unknown_checking_proxy = _memoise(policy.unknown_checking_proxy)
    servicer = policy._PolicyAnalyzerServicer
    servicer._get_resource_options = _memoise_method(servicer._get_resource_options)  # type: ignore[method-assign]
    servicer._get_provider_resource = _memoise_method(_provider_by_content(servicer._get_provider_resource))  # type: ignore[method-assign]
    return True
