"""Decode each Analyze request once, not once per policy (a pure speed-up of pulumi-policy 1.21's servicer).

``_PolicyAnalyzerServicer.Analyze`` decodes the request's properties (``MessageToDict``, then
``deserialize_properties``, then ``unknown_checking_proxy``) and the provider's properties *inside its loop over
policies*: with 12 resource policies that is 12 identical decodings per resource, about 90% of the pack's
cost.  This module memoises those three steps on the identity of their input, per thread, one request at a
time (the cache holds the request's message, so its identity cannot be reused while cached).  The values the
policies see are the same objects the SDK would build, only built once; the policies never mutate them.
Remediate (``deserialize_properties(..., True)``) is not cached.  Installed only when the pack process runs
(``policies/__main__.py``), guarded on the SDK version it was written against.
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
        for key, result in memo.entries:
            if key is value:
                return result
        result = function(value)
        memo.entries.insert(0, (value, result))
        del memo.entries[_SLOTS:]
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
    return True
