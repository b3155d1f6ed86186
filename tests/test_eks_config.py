"""EKS config: add-on versions, chart mirrors and the Auto Scaling role choice, with key paths in every error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.project import load_project
from stackconfig import AwsStackConfig, ConfigError, parse_stack_config
from stackconfig.aws_cluster import EKS_ADDON_VERSIONS, EKS_ADDONS, SUPPORTED_KUBERNETES_VERSIONS

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT)


def _with_eks(**changes: Any) -> dict[str, str]:
    raw = dict(PROJECT.stack("frankfurt").config)
    eks = json.loads(raw["hybrid-llm-infra:eks"])
    eks.update(changes)
    return {**raw, "hybrid-llm-infra:eks": json.dumps(eks)}


def _problems(raw: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_stack_config(raw)
    return [str(p) for p in info.value.problems]


def test_every_supported_kubernetes_version_pins_every_addon_and_kube_proxy_matches_it() -> None:
    for version in SUPPORTED_KUBERNETES_VERSIONS:
        pinned = EKS_ADDON_VERSIONS[version]
        assert set(pinned) == set(EKS_ADDONS)
        assert pinned["kube-proxy"].startswith(f"v{version}.")


def test_defaults_follow_the_kubernetes_version_and_overrides_win() -> None:
    config = parse_stack_config(_with_eks(kubernetesVersion="1.32", addonVersions={"coredns": "v1.11.4-eksbuild.2"}))
    assert isinstance(config, AwsStackConfig)
    assert config.eks.addon_version("kube-proxy") == EKS_ADDON_VERSIONS["1.32"]["kube-proxy"]
    assert config.eks.addon_version("coredns") == "v1.11.4-eksbuild.2"
    assert config.eks.log_retention_days == 365


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ({"cilium": "v1.0.0-eksbuild.1"}, "unknown add-on 'cilium'; allowed: vpc-cni, kube-proxy, coredns"),
        ({"coredns": "latest"}, "coredns: 'latest' is not an EKS add-on version"),
        ({"kube-proxy": "v1.31.13-eksbuild.2"}, "must match the cluster's Kubernetes version 1.33"),
    ],
)
def test_bad_addon_versions_name_the_key(versions: dict[str, str], expected: str) -> None:
    (problem,) = _problems(_with_eks(addonVersions=versions))
    assert problem.startswith("hybrid-llm-infra:eks.addonVersions: ") and expected in problem


def test_device_plugin_chart_can_come_from_a_mirror_and_must_be_pinned() -> None:
    mirror = {
        "repository": "oci://registry.internal.example/charts",
        "chart": "nvidia-device-plugin",
        "version": "0.17.1",
    }
    config = parse_stack_config(_with_eks(devicePlugin=mirror))
    assert isinstance(config, AwsStackConfig) and config.eks.device_plugin.repository.startswith("oci://")
    problems = _problems(_with_eks(devicePlugin={**mirror, "version": "~0.17"}))
    assert [p.split(":")[1].strip() for p in problems] == ["eks.devicePlugin.version"]
    problems = _problems(_with_eks(devicePlugin={**mirror, "repository": "ftp://mirror"}))
    assert problems[0].startswith("hybrid-llm-infra:eks.devicePlugin.repository: ")


def test_autoscaling_role_choice_is_create_or_existing() -> None:
    (problem,) = _problems(_with_eks(autoscalingServiceLinkedRole="adopt"))
    assert problem.startswith("hybrid-llm-infra:eks.autoscalingServiceLinkedRole: ")
    assert "'create' or 'existing'" in problem
