"""Karpenter: GPU NodePools cap their GPUs; EC2NodeClasses require IMDSv2 (hop limit 1) and encrypt their volumes.

Read from the custom resources' inputs (``kubernetes:karpenter.sh/v1:NodePool``,
``kubernetes:karpenter.k8s.aws/v1:EC2NodeClass``). During a preview a value computed from another resource (the
node role, the key ARN) is unknown: reading it raises ``UnknownValueError``, and an unknown value counts as set —
the check judges what the program wrote, not what AWS will answer.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import Config, View, as_list, as_mapping, resource_policy

NODE_POOL = "kubernetes:karpenter.sh/"
EC2_NODE_CLASS = "kubernetes:karpenter.k8s.aws/"
GPU = "nvidia.com/gpu"
_UNKNOWN = object()


def _get(mapping: Any, key: str) -> Any:
    try:
        return as_mapping(mapping).get(key)
    except UnknownValueError:
        return _UNKNOWN


def _items(sequence: Any) -> list[Any]:
    out: list[Any] = []
    try:
        items = as_list(sequence)
        for index in range(len(items)):
            try:
                out.append(items[index])
            except UnknownValueError:
                out.append(_UNKNOWN)
    except UnknownValueError:
        return [_UNKNOWN]
    return out


def _quantity(value: Any) -> float | None:
    """A plain Kubernetes count ('4', 4, '4.0'); None when it is not one (a GPU limit is a whole count)."""
    try:
        return float(str(value))
    except ValueError:
        return None


@resource_policy("karpenter-gpu-limits", types=(NODE_POOL,))
def karpenter_gpu_limits(view: View, config: Config) -> list[str]:
    if not view.type.endswith(":NodePool"):
        return []
    limits = _get(_get(view.props, "spec"), "limits")
    if limits is _UNKNOWN:
        return []
    limit = _get(limits, GPU)
    if limit is _UNKNOWN:
        return []
    if limit is None:
        return [f"{view.name}: NodePool has no spec.limits['{GPU}']: it could launch GPU nodes without end"]
    count = _quantity(limit)
    if count is None or count < 1:
        return [f"{view.name}: spec.limits['{GPU}'] is {limit!r}; it must be a positive count of GPUs"]
    return []


def _metadata_problems(name: str, options: Any) -> list[str]:
    if options is _UNKNOWN:
        return []
    if not options:
        return [f"{name}: no spec.metadataOptions: set httpTokens 'required' and httpPutResponseHopLimit 1 explicitly"]
    problems = []
    tokens, hops = _get(options, "httpTokens"), _get(options, "httpPutResponseHopLimit")
    if tokens is not _UNKNOWN and tokens != "required":
        problems.append(f"{name}: metadataOptions.httpTokens is {tokens!r}; IMDSv2 needs 'required'")
    if hops is not _UNKNOWN and _quantity(hops) != 1:
        problems.append(f"{name}: metadataOptions.httpPutResponseHopLimit is {hops!r}; must be 1 (no pod reaches IMDS)")
    return problems


def _volume_problems(name: str, mappings: Any) -> list[str]:
    if mappings is _UNKNOWN:
        return []
    items = _items(mappings)
    if not items:
        return [
            f"{name}: no spec.blockDeviceMappings: the root volume would use Karpenter's default, not the stack key"
        ]
    problems = []
    for index, mapping in enumerate(items):
        if mapping is _UNKNOWN:
            continue
        ebs = _get(mapping, "ebs")
        if ebs is _UNKNOWN:
            continue
        where = f"{name}: blockDeviceMappings[{index}].ebs"
        encrypted = _get(ebs, "encrypted")
        if encrypted is not _UNKNOWN and encrypted is not True and str(encrypted).lower() != "true":
            problems.append(f"{where} is not encrypted")
        if not _get(ebs, "kmsKeyID"):
            problems.append(f"{where} has no kmsKeyID (a customer-managed key)")
    return problems


@resource_policy("karpenter-node-hardening", types=(EC2_NODE_CLASS,))
def karpenter_node_hardening(view: View, config: Config) -> list[str]:
    if not view.type.endswith(":EC2NodeClass"):
        return []
    spec = _get(view.props, "spec")
    if spec is _UNKNOWN:
        return []
    return _metadata_problems(view.name, _get(spec, "metadataOptions")) + _volume_problems(
        view.name, _get(spec, "blockDeviceMappings")
    )
