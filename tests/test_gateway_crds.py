"""The Gateway API CRDs the clusters get are the standard channel v1.4.1 and Envoy Gateway's own v1.6.7, vendored
unchanged and installed by the stacks; the chart's experimental set is skipped; every gateway custom resource the
stacks register has its CRD among them."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.front_door_gateway import GATEWAY_CRD_DIRS, GATEWAY_CRD_FILES
from residency.kubernetes_manifests import HELM_RELEASE
from tests.crd_schema import is_custom_resource
from tests.stack_runs import ROOT, shipped_runs

STACKS = ["frankfurt", "dubai", "onprem"]
CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"
GATEWAY_GROUPS = ("gateway.networking.k8s.io", "gateway.envoyproxy.io")


@cache
def _crds() -> dict[str, dict]:  # type: ignore[type-arg]
    return {f: yaml.load((ROOT / f).read_text(), Loader=yaml.CSafeLoader) for f in GATEWAY_CRD_FILES}


def test_every_vendored_file_matches_its_recorded_sha256() -> None:
    table = (ROOT / "components" / "vendor" / "README.md").read_text()
    recorded = dict(re.findall(r"^\| `([^`]+\.yaml)` \| `([0-9a-f]{64})` \|$", table, re.MULTILINE))
    vendored = {str(Path(f).relative_to("components/vendor")) for f in GATEWAY_CRD_FILES}
    assert set(recorded) == vendored
    for name, digest in recorded.items():
        assert hashlib.sha256((ROOT / "components" / "vendor" / name).read_bytes()).hexdigest() == digest, name


def test_the_gateway_api_crds_are_the_standard_channel_of_v1_4_1() -> None:
    standard = {f: crd for f, crd in _crds().items() if f.startswith(GATEWAY_CRD_DIRS[0])}
    assert sorted(crd["spec"]["names"]["kind"] for crd in standard.values()) == [
        "BackendTLSPolicy",
        "GRPCRoute",
        "Gateway",
        "GatewayClass",
        "HTTPRoute",
        "ReferenceGrant",
    ]
    for crd in standard.values():
        annotations = crd["metadata"]["annotations"]
        assert annotations["gateway.networking.k8s.io/channel"] == "standard"
        assert annotations["gateway.networking.k8s.io/bundle-version"] == "v1.4.1"
    # No experimental kind (TCPRoute, TLSRoute, UDPRoute, XListenerSet, ...) is installed.
    groups = {crd["spec"]["group"] for crd in _crds().values()}
    assert groups == set(GATEWAY_GROUPS)


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_installs_them_and_the_chart_skips_its_own(stack: str) -> None:
    run = shipped_runs()[stack]
    [group] = [r for r in run.resources if r.type == CONFIG_GROUP]
    assert group.inputs["files"] == list(GATEWAY_CRD_FILES)
    # Cluster-wide types: on the site's existing cluster never deleted with the stack (a CRD's deletion deletes
    # every object of its kind, other teams' too); on AWS the stack owns the cluster and destroys it whole.
    assert (group.protect, group.retain_on_delete) == ((True, True) if stack == "onprem" else (False, False))
    assert all((ROOT / f).is_file() and not Path(f).is_absolute() for f in group.inputs["files"])
    [release] = [r for r in run.resources if r.type == HELM_RELEASE and r.inputs.get("name") == "envoy-gateway"]
    assert release.inputs["skipCrds"] is True
    assert group.urn in release.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_every_gateway_custom_resource_has_its_crd_installed(stack: str) -> None:
    served = {
        (crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"])
        for crd in _crds().values()
        for version in crd["spec"]["versions"]
        if version["served"]
    }
    used = set()
    for resource in shipped_runs()[stack].resources:
        if not is_custom_resource(resource.type):
            continue
        _, group_version, kind = resource.type.split(":")
        group, _, version = group_version.partition("/")
        if group in GATEWAY_GROUPS:
            used.add((group, version, kind))
    assert used, "the stack registers no gateway resources"
    assert used <= served, used - served
