"""The Karpenter policies through the real pack (gRPC, as the CLI runs it): a failing and a passing fixture each.

karpenter-gpu-limits: a NodePool without a positive nvidia.com/gpu limit. karpenter-node-hardening: an
EC2NodeClass without IMDSv2 (httpTokens required, hop limit 1) or without encrypted, customer-key volumes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from infra.analyzer import AnalyzedResource, PolicyPackProcess
from residency.controls import CONTROLS
from tests.test_policies import EKS, KEY, PACK, TAGS, analyze, configure, names, res

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
POOL: dict[str, Any] = {
    "apiVersion": "karpenter.sh/v1",
    "kind": "NodePool",
    "metadata": {"name": "gpu-l40s", "labels": TAGS},
    "spec": {
        "template": {
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu-l40s"},
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g6e.2xlarge"]}
                ],
                "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
            }
        },
        "limits": {"nvidia.com/gpu": "2"},
    },
}
NODE_CLASS_SPEC: dict[str, Any] = {
    "amiSelectorTerms": [{"alias": "al2023@v20260520"}],
    "role": "gpu-node-role",
    "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}],
    "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}],
    "metadataOptions": {"httpEndpoint": "enabled", "httpPutResponseHopLimit": 1.0, "httpTokens": "required"},
    "blockDeviceMappings": [
        {
            "deviceName": "/dev/xvda",
            "rootVolume": True,
            "ebs": {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True, "kmsKeyID": KEY},
        }
    ],
    "tags": TAGS,
}


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(PACK) as process:
        yield process


@pytest.fixture
def eu(pack: PolicyPackProcess) -> PolicyPackProcess:
    configure(pack)
    return pack


def pool(**spec_changes: Any) -> AnalyzedResource:
    props = copy.deepcopy(POOL)
    for key, value in spec_changes.items():
        if value is None:
            props["spec"].pop(key, None)
        else:
            props["spec"][key] = value
    return res(NODE_POOL, "pool", props, provider=EKS)


def node_class(change: Any = None) -> AnalyzedResource:
    spec = copy.deepcopy(NODE_CLASS_SPEC)
    if change is not None:
        change(spec)
    props = {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "gpu", "labels": TAGS}}
    return res(NODE_CLASS, "nodeclass", {**props, "spec": spec}, provider=EKS)


def set_in(path: str, value: Any) -> Any:
    def change(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = spec
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value

    return change


CASES = [
    ("pool-limited", pool(), []),
    ("pool-limit-as-integer", pool(limits={"nvidia.com/gpu": 8.0, "cpu": "1000"}), []),
    ("pool-no-limits", pool(limits=None), ["karpenter-gpu-limits"]),
    ("pool-cpu-limit-only", pool(limits={"cpu": "1000"}), ["karpenter-gpu-limits"]),
    ("pool-zero-gpus", pool(limits={"nvidia.com/gpu": "0"}), ["karpenter-gpu-limits"]),
    ("nodeclass-hardened", node_class(), []),
    ("nodeclass-imdsv1", node_class(set_in("metadataOptions.httpTokens", "optional")), ["karpenter-node-hardening"]),
    (
        "nodeclass-hop-2",
        node_class(set_in("metadataOptions.httpPutResponseHopLimit", 2.0)),
        ["karpenter-node-hardening"],
    ),
    ("nodeclass-no-metadata-options", node_class(set_in("metadataOptions", None)), ["karpenter-node-hardening"]),
    (
        "nodeclass-unencrypted",
        node_class(set_in("blockDeviceMappings.0.ebs.encrypted", False)),
        ["karpenter-node-hardening"],
    ),
    (
        "nodeclass-no-customer-key",
        node_class(set_in("blockDeviceMappings.0.ebs.kmsKeyID", None)),
        ["karpenter-node-hardening"],
    ),
    ("nodeclass-default-volumes", node_class(set_in("blockDeviceMappings", None)), ["karpenter-node-hardening"]),
]


@pytest.mark.parametrize(("resource", "expected"), [(r, e) for _, r, e in CASES], ids=[c[0] for c in CASES])
def test_karpenter_policies_on_fixtures(eu: PolicyPackProcess, resource: AnalyzedResource, expected: list[str]) -> None:
    diagnostics = analyze(eu, resource)
    assert sorted(set(names(diagnostics))) == expected, [d.message for d in diagnostics]
    for d in diagnostics:
        assert d.enforcement_level == "mandatory" == CONTROLS[d.policy_name].enforcement
        assert d.severity == CONTROLS[d.policy_name].severity


def test_the_messages_name_what_is_missing(eu: PolicyPackProcess) -> None:
    [missing] = analyze(eu, pool(limits=None))
    assert "nvidia.com/gpu" in missing.message
    messages = " ".join(d.message for d in analyze(eu, node_class(set_in("metadataOptions.httpTokens", "optional"))))
    assert "httpTokens" in messages and "'optional'" in messages


def test_the_pack_knows_both_controls(pack: PolicyPackProcess) -> None:
    policies = {p.name: p for p in pack.info().policies}
    for control in ("karpenter-gpu-limits", "karpenter-node-hardening"):
        assert policies[control].enforcement_level == "mandatory"
