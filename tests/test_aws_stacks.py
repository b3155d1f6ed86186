"""The AWS GPU stacks end to end: placement on moto's data, regions, secrets, and bad input."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from typing import Any

import pytest

from infra import aws_data
from infra.engine import StackRun, run_stack
from infra.project import load_project
from stackconfig.aws_cluster import NVIDIA_GPU_INSTANCE_TYPES, SUPPORTED_KUBERNETES_VERSIONS
from tests.stack_runs import ROOT, shipped_runs

PROJECT = load_project(ROOT)
REGIONS = {"frankfurt": "eu-central-1", "dubai": "me-central-1"}
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"


def gpu_node_pools(run: StackRun) -> list[Any]:
    return [r for r in run.resources if r.type == NODE_POOL]


def requirement(pool: Any, key: str) -> list[str]:
    (found,) = [r for r in pool.inputs["spec"]["template"]["spec"]["requirements"] if r["key"] == key]
    assert found["operator"] == "In"
    return list(found["values"])


def subnet_zones(run: StackRun) -> dict[str, str]:
    return {r.id: r.inputs["availabilityZone"] for r in run.resources if r.type == "aws:ec2/subnet:Subnet"}


def offering_zones(region: str, instance_type: str) -> set[str]:
    return {loc for t, loc in aws_data.instance_type_offerings(region, "availability-zone") if t == instance_type}


def test_dubai_gpu_nodes_land_exactly_in_me_central_1a_and_1b() -> None:
    run = shipped_runs()["dubai"]
    assert run.ok, (run.problems, run.crash)
    pools = gpu_node_pools(run)
    assert pools
    assert not [
        r for r in run.resources if r.type == NODE_GROUP and r.inputs.get("amiType") != "AL2023_x86_64_STANDARD"
    ]
    for pool in pools:
        (instance_type,) = requirement(pool, "node.kubernetes.io/instance-type")
        # moto's data: me-central-1 offers g5/g6/g6e only in 1a and 1b; the stack's third zone is 1c.
        assert offering_zones("me-central-1", instance_type) == {"me-central-1a", "me-central-1b"}
        assert requirement(pool, "topology.kubernetes.io/zone") == ["me-central-1a", "me-central-1b"]
    assert "me-central-1c" in subnet_zones(run).values()  # the network does use 1c; only GPU nodes stay out of it
    assert run.outputs["gpuNodePoolZones"] == {"l40s": ["me-central-1a", "me-central-1b"]}


def test_frankfurt_gpu_nodes_spread_over_every_zone_that_offers_the_type() -> None:
    run = shipped_runs()["frankfurt"]
    assert run.ok, (run.problems, run.crash)
    for pool in gpu_node_pools(run):
        (instance_type,) = requirement(pool, "node.kubernetes.io/instance-type")
        expected = offering_zones("eu-central-1", instance_type) & set(run.outputs["availabilityZones"])
        assert len(expected) >= 2
        assert requirement(pool, "topology.kubernetes.io/zone") == sorted(expected)


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_no_aws_resource_is_placed_outside_the_stacks_region(stack: str) -> None:
    run = shipped_runs()[stack]
    region = REGIONS[stack]
    providers = {r.urn: r for r in run.resources if r.type == "pulumi:providers:aws"}
    assert [p.inputs["region"] for p in providers.values()] == [region]
    other_regions = re.compile(r"\b(?:us|eu|me|ap|ca|sa|af|il|mx)-[a-z]+-\d\b")
    for resource in run.resources:
        if not resource.type.startswith("aws:"):
            continue
        assert resource.provider in providers, resource.urn
        assert resource.inputs.get("region", region) == region, resource.urn
        found = set(other_regions.findall(json.dumps(resource.inputs))) - {region}
        assert not found, f"{resource.urn} names {found}"
    for value in (run.outputs["clusterEndpoint"], run.outputs["kmsKeyArn"]):
        assert region in value


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_stack_outputs_the_platform_and_keeps_the_kubeconfig_secret(stack: str) -> None:
    run = shipped_runs()[stack]
    outputs = run.outputs
    for key in ("clusterName", "clusterEndpoint", "vpcId", "vpcCidr", "privateRouteTableIds", "modelBucketName"):
        assert outputs[key], key
    assert outputs["kmsKeyArn"].startswith(f"arn:aws:kms:{REGIONS[stack]}:")
    assert len(outputs["privateRouteTableIds"]) == 3
    assert "kubeconfig" in run.secret_outputs
    assert "get-token" in outputs["kubeconfig"]  # the value exists; it is only marked secret
    public = json.dumps({k: v for k, v in outputs.items() if k not in run.secret_outputs})
    assert "get-token" not in public and "certificate-authority-data" not in public


def test_cli_json_prints_the_kubeconfig_only_as_secret() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra", "check", "dubai", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (stack,) = json.loads(result.stdout)["stacks"]
    assert stack["outputs"]["kubeconfig"] == "[secret]"
    provider = next(r for r in stack["resources"] if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    for leak in ("get-token", "certificate-authority-data", "BEGIN CERTIFICATE"):
        assert leak not in result.stdout and leak not in result.stderr


def test_the_inference_service_runs_on_gpu_nodes_with_a_model_from_the_bucket() -> None:
    run = shipped_runs()["dubai"]
    (deployment,) = [r for r in run.resources if r.type == "kubernetes:apps/v1:Deployment"]
    pod = deployment.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = " ".join(container.get("args") or []) + " ".join(container.get("command") or [])
    assert f"s3://{run.outputs['modelBucketName']}/models/" in args
    assert container["resources"]["limits"]["nvidia.com/gpu"] in ("1", 1)
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    (association,) = [
        r
        for r in run.resources
        if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation" and r.inputs["namespace"] != "kube-system"
    ]
    assert association.inputs["serviceAccount"] == pod["serviceAccountName"]
    assert association.inputs["namespace"] == deployment.inputs["metadata"]["namespace"]


def test_every_supported_gpu_type_is_an_nvidia_x86_type_in_motos_data() -> None:
    import gzip

    path = aws_data._moto_dir() / "ec2" / "resources" / "instance_types.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        described = json.load(handle)
    for instance_type, gpus in NVIDIA_GPU_INSTANCE_TYPES.items():
        info = described[instance_type]
        (gpu,) = info["GpuInfo"]["Gpus"]
        assert gpu["Manufacturer"] == "NVIDIA", instance_type
        assert gpu["Count"] == gpus, instance_type
        assert "x86_64" in info["ProcessorInfo"]["SupportedArchitectures"], instance_type


# --- bad input: one clear line naming the key path, and nothing registered --------------------------------


def run_with(stack: str, **changes: Any) -> StackRun:
    base = PROJECT.stack(stack)
    config = dict(base.config)
    for key, change in changes.items():
        full = f"hybrid-llm-infra:{key}"
        value = json.loads(config[full])
        change(value)
        config[full] = json.dumps(value)
    return run_stack(PROJECT, dataclasses.replace(base, config=config))


def set_pool(**fields: Any) -> Any:
    return lambda pools: pools[0].update(fields)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"gpuNodePools": set_pool(instanceTypes=["g9.mega"])},
            "hybrid-llm-infra:gpuNodePools[0].instanceTypes[0]: unknown GPU instance type; allowed: NVIDIA x86_64",
        ),
        (
            {"gpuNodePools": set_pool(instanceTypes=["m6i.large"])},
            "hybrid-llm-infra:gpuNodePools[0].instanceTypes[0]: unknown GPU instance type",
        ),
        (
            {"gpuNodePools": set_pool(instanceTypes=[], instanceFamilies=["m6i"])},
            "hybrid-llm-infra:gpuNodePools[0].instanceFamilies[0]: 'm6i' is not an instance family with NVIDIA GPUs",
        ),
        (
            {"gpuNodePools": set_pool(instanceTypes=[], instanceFamilies=["g6e"], gpuLimit=4)},
            "hybrid-llm-infra:gpuNodePools[0].gpuLimit: 4 is below the 8 GPUs of one g6e.48xlarge node",
        ),
        (
            {"gpuNodePools": set_pool(instanceTypes=["g6e.12xlarge"], gpuLimit=2)},
            "hybrid-llm-infra:gpuNodePools[0].gpuLimit: 2 is below the 4 GPUs of one g6e.12xlarge node",
        ),
        (
            {"gpuNodePools": lambda pools: pools[0].pop("gpuLimit")},
            "hybrid-llm-infra:gpuNodePools[0].gpuLimit: required",
        ),
        (
            {"gpuNodePools": set_pool(instanceTypes=[])},
            "hybrid-llm-infra:gpuNodePools[0].instanceFamilies: set instanceTypes or instanceFamilies",
        ),
        (
            {"gpuNodePools": set_pool(capacityTypes=["reserved"])},
            "hybrid-llm-infra:gpuNodePools[0].capacityTypes[0]:",
        ),
        (
            {"gpuNodePools": set_pool(consolidateAfterSeconds=60)},
            "hybrid-llm-infra:gpuNodePools[0].consolidateAfterSeconds: 60s is shorter than the slowest model's "
            "startupTimeoutSeconds",
        ),
        (
            {"eks": lambda eks: eks.update(karpenter={"amiAlias": "al2023@latest"})},
            "hybrid-llm-infra:eks.karpenter.amiAlias:",
        ),
        (
            {"eks": lambda eks: eks.update(kubernetesVersion="1.27")},
            f"hybrid-llm-infra:eks.kubernetesVersion: unsupported Kubernetes version; allowed: "
            f"{', '.join(SUPPORTED_KUBERNETES_VERSIONS)}",
        ),
        (
            {"eks": lambda eks: eks.update(publicAccessCidrs=["0.0.0.0/0"])},
            "hybrid-llm-infra:eks.publicAccessCidrs[0]: 0.0.0.0/0 opens the API endpoint to the internet",
        ),
        (
            {"eks": lambda eks: eks.pop("adminPrincipalArns")},
            "hybrid-llm-infra:eks.adminPrincipalArns: required",
        ),
    ],
)
def test_bad_cluster_config_stops_before_any_resource(changes: dict[str, Any], expected: str) -> None:
    run = run_with("dubai", **changes)
    assert run.crash is None, run.crash
    assert len(run.problems) == 1, run.problems
    assert run.problems[0].startswith(expected), run.problems
    assert run.resources == []


def test_excluding_a_gpu_zone_below_the_minimum_names_type_region_and_offering_zones() -> None:
    config = dict(PROJECT.stack("dubai").config)
    config["hybrid-llm-infra:gpuPlacement"] = json.dumps({"minAzs": 2, "excludedAzIds": ["mec1-az2"]})
    run = run_stack(PROJECT, dataclasses.replace(PROJECT.stack("dubai"), config=config))
    assert run.crash is None, run.crash
    assert run.resources == []
    (problem,) = run.problems
    assert problem.startswith("hybrid-llm-infra:gpuPlacement.excludedAzIds: ")
    for part in ("g6e.2xlarge", "me-central-1", "me-central-1a (mec1-az1)", "me-central-1b (mec1-az2)", "1 zone"):
        assert part in problem, problem


def test_excluding_the_zone_gpus_do_not_use_changes_nothing() -> None:
    config = dict(PROJECT.stack("dubai").config)
    config["hybrid-llm-infra:gpuPlacement"] = json.dumps({"minAzs": 2, "excludedAzIds": ["mec1-az3"]})
    run = run_stack(PROJECT, dataclasses.replace(PROJECT.stack("dubai"), config=config))
    assert run.ok, (run.problems, run.crash)
    assert run.outputs["gpuNodePoolZones"] == {"l40s": ["me-central-1a", "me-central-1b"]}
    (pool,) = gpu_node_pools(run)
    assert requirement(pool, "topology.kubernetes.io/zone") == ["me-central-1a", "me-central-1b"]


def test_an_excluded_zone_disappears_from_the_nodepool_requirements() -> None:
    config = dict(PROJECT.stack("dubai").config)
    config["hybrid-llm-infra:gpuPlacement"] = json.dumps({"minAzs": 1, "excludedAzIds": ["mec1-az2"]})
    run = run_stack(PROJECT, dataclasses.replace(PROJECT.stack("dubai"), config=config))
    assert run.ok, (run.problems, run.crash)
    (pool,) = gpu_node_pools(run)
    assert requirement(pool, "topology.kubernetes.io/zone") == ["me-central-1a"]  # 1b is mec1-az2
    assert run.outputs["gpuNodePoolZones"] == {"l40s": ["me-central-1a"]}


def test_a_type_the_region_does_not_offer_names_where_it_is_offered() -> None:
    run = run_with("dubai", gpuNodePools=set_pool(instanceTypes=["g4dn.xlarge"]))
    assert run.resources == []
    (problem,) = run.problems
    assert problem.startswith("hybrid-llm-infra:gpuNodePools[0].instanceTypes: g4dn.xlarge is offered in me-central-1")
    assert "none of the stack's zones" in problem


def test_placement_follows_the_offerings_of_each_type() -> None:
    # p5en.48xlarge: moto's data offers it in me-central-1a and -1c (not 1b), unlike g6e.
    run = run_with("dubai", gpuNodePools=set_pool(instanceTypes=["p5en.48xlarge"], gpuLimit=8))
    assert run.ok, (run.problems, run.crash)
    assert run.outputs["gpuNodePoolZones"] == {"l40s": ["me-central-1a", "me-central-1c"]}


def test_a_family_pool_lists_only_the_types_offered_in_its_zones() -> None:
    run = run_with("dubai", gpuNodePools=set_pool(instanceTypes=[], instanceFamilies=["g6e"], gpuLimit=8))
    assert run.ok, (run.problems, run.crash)
    (pool,) = gpu_node_pools(run)
    zones = requirement(pool, "topology.kubernetes.io/zone")
    types = requirement(pool, "node.kubernetes.io/instance-type")
    family = sorted(t for t in NVIDIA_GPU_INSTANCE_TYPES if t.startswith("g6e."))
    offered = [t for t in family if offering_zones("me-central-1", t) & set(zones)]
    assert types == offered and "g6e.2xlarge" in types
    assert pool.inputs["spec"]["limits"] == {"nvidia.com/gpu": "8"}


def test_a_model_larger_than_any_gpu_node_is_refused_before_any_resource() -> None:
    run = run_with("dubai", inference=lambda models: models[0].update(gpus=4))
    assert run.resources == []
    assert run.problems == [
        "hybrid-llm-infra:inference[0].gpus: 4 GPUs per replica, but the largest GPU node of any pool has 1 GPU(s)"
    ]


def test_cli_exits_2_with_one_clean_line_for_a_placement_error(tmp_path: Any) -> None:
    import shutil

    project = tmp_path / "project"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "tests", "*.egg-info"))
    stack_file = project / "Pulumi.dubai.yaml"
    stack_file.write_text(stack_file.read_text().replace("minAzs: 2", "minAzs: 3"))
    result = subprocess.run(
        [sys.executable, "-m", "infra", "check", "dubai", "--project-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("dubai: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dubai: hybrid-llm-infra:gpuNodePools[0].instanceTypes: g6e.2xlarge is offered in")
    assert "me-central-1a (mec1-az1), me-central-1b (mec1-az2)" in lines[0]


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_every_kubernetes_object_on_the_eks_cluster_carries_the_residency_labels(stack: str) -> None:
    run = shipped_runs()[stack]
    objects = [r for r in run.resources if r.type.startswith("kubernetes:") and "metadata" in r.inputs]
    assert len(objects) >= 5
    expected = {"frankfurt": "eu", "dubai": "uae"}[stack]
    for obj in objects:
        labels = obj.inputs["metadata"].get("labels") or {}
        assert labels.get("data-residency") == expected, obj.urn
        assert labels.get("data-classification") == "confidential", obj.urn
    releases = {r.name: r for r in run.resources if r.type == "kubernetes:helm.sh/v3:Release"}
    namespaces = {o.inputs["metadata"]["name"] for o in objects if o.type == "kubernetes:core/v1:Namespace"}
    for name in (
        "gpu-nvidia-device-plugin",
        "metrics-release",
        "keda-release",
        "gpu-telemetry-release",
        "probes-release",
        "envoy-gateway-release",
    ):
        # In a namespace of the stack's own: the namespace carries the labels.
        assert releases.pop(f"{stack}-{name}").inputs["namespace"] in namespaces, name
    for other in releases.values():  # the load balancer controller, in kube-system: its chart labels its objects
        assert other.inputs["values"]["additionalLabels"]["data-residency"] == expected, other.urn
