"""Karpenter on the shipped AWS stacks: CRD validity, discovery tags, IAM scoping, interruption queue, NodePools."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml

from components.karpenter_iam import INTERRUPTION_EVENTS
from infra.engine import StackRun
from stackconfig.aws_cluster import KARPENTER_AMI_ALIAS, KARPENTER_REPOSITORY, KARPENTER_VERSION
from tests.stack_runs import ROOT, shipped_runs

CRDS = ROOT / "schemas" / "crds"
AWS_STACKS = ("frankfurt", "dubai")
KARPENTER_GROUPS = ("kubernetes:karpenter.sh/", "kubernetes:karpenter.k8s.aws/")
DISCOVERY = "karpenter.sh/discovery"
IAM_POLICY_LIMIT = 6144
"""Characters of a managed policy document, whitespace excluded (IAM quotas)."""


@cache
def crd_schemas() -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> openAPIV3Schema, from every vendored CRD file."""
    schemas = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            schemas[(spec["group"], version["name"], spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


def karpenter_objects(run: StackRun) -> list[Any]:
    return [r for r in run.resources if r.type.startswith(KARPENTER_GROUPS)]


def of_type(run: StackRun, token: str) -> list[Any]:
    return [r for r in run.resources if r.type == token]


def node_pools(run: StackRun) -> list[Any]:
    return of_type(run, "kubernetes:karpenter.sh/v1:NodePool")


def node_classes(run: StackRun) -> list[Any]:
    return of_type(run, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")


def named(run: StackRun, token: str, name: str) -> Any:
    (found,) = [r for r in of_type(run, token) if r.name == name]
    return found


def test_the_karpenter_crds_are_the_unchanged_shared_copies() -> None:
    shared = ROOT.parent / "shared" / "schemas" / "crds"
    readme = (CRDS / "README.md").read_text()
    for name in ("karpenter.sh_nodepools.yaml", "karpenter.k8s.aws_ec2nodeclasses.yaml"):
        assert f"`{name}`" in readme and "1.14" in readme
        if shared.is_dir():  # a clone without the shared folder still validates against the vendored copy
            assert (CRDS / name).read_bytes() == (shared / name).read_bytes(), name


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_karpenter_custom_resource_validates_against_its_vendored_crd(stack: str) -> None:
    run = shipped_runs()[stack]
    assert run.ok, (run.problems, run.crash)
    objects = karpenter_objects(run)
    assert {o.type.rsplit(":", 1)[-1] for o in objects} == {"NodePool", "EC2NodeClass"}
    for obj in objects:
        manifest = json.loads(json.dumps(obj.inputs))
        group, version = manifest["apiVersion"].split("/")
        schema = crd_schemas()[(group, version, manifest["kind"])]
        jsonschema.Draft7Validator(schema).validate(manifest)


def test_the_schema_check_rejects_what_the_crd_forbids() -> None:
    """The validation above can fail: the same check refuses objects the CRD does not allow."""
    run = shipped_runs()["dubai"]
    (pool,) = node_pools(run)
    manifest = json.loads(json.dumps(pool.inputs))
    schema = crd_schemas()[("karpenter.sh", "v1", "NodePool")]
    broken = json.loads(json.dumps(manifest))
    broken["spec"]["disruption"]["consolidationPolicy"] = "Always"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)
    broken = json.loads(json.dumps(manifest))
    del broken["spec"]["template"]["spec"]["nodeClassRef"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)
    (node_class,) = node_classes(run)
    manifest = json.loads(json.dumps(node_class.inputs))
    manifest["spec"]["metadataOptions"]["httpTokens"] = "sometimes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schemas()[("karpenter.k8s.aws", "v1", "EC2NodeClass")]).validate(manifest)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_crd_cel_rules_jsonschema_cannot_evaluate_hold(stack: str) -> None:
    """x-kubernetes-validations of the EC2NodeClass CRD that a plain JSON-schema validator skips, checked by hand."""
    for node_class in node_classes(shipped_runs()[stack]):
        spec = node_class.inputs["spec"]
        assert ("role" in spec) != ("instanceProfile" in spec)  # exactly one of role, instanceProfile
        (term,) = spec["amiSelectorTerms"]  # an alias term stands alone
        assert set(term) == {"alias"} and re.fullmatch(r"[a-zA-Z0-9]+@.+", term["alias"])
        for key in spec["tags"]:
            assert key and key not in ("eks:eks-cluster-name", "karpenter.sh/nodepool", "karpenter.sh/nodeclaim")
            assert not key.startswith("kubernetes.io/cluster") and key != "karpenter.k8s.aws/ec2nodeclass"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_nodes_find_the_private_subnets_and_the_cluster_security_group_by_the_discovery_tag(stack: str) -> None:
    run = shipped_runs()[stack]
    cluster = run.outputs["clusterName"]
    subnets = of_type(run, "aws:ec2/subnet:Subnet")
    private = [s for s in subnets if s.inputs["tags"].get("kubernetes.io/role/internal-elb") == "1"]
    assert len(private) == 3 and sorted(s.id for s in private) == sorted(run.outputs["privateSubnetIds"])
    for subnet in subnets:
        assert subnet.inputs["tags"].get(DISCOVERY) == (cluster if subnet in private else None), subnet.name
    (tag,) = of_type(run, "aws:ec2/tag:Tag")
    assert (tag.inputs["key"], tag.inputs["value"]) == (DISCOVERY, cluster)
    assert tag.inputs["resourceId"].startswith("sg-")
    for node_class in node_classes(run):
        spec = node_class.inputs["spec"]
        assert spec["subnetSelectorTerms"] == [{"tags": {DISCOVERY: cluster}}]
        assert spec["securityGroupSelectorTerms"] == [{"tags": {DISCOVERY: cluster}}]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_ec2_node_class_pins_the_ami_and_hardens_the_nodes(stack: str) -> None:
    run = shipped_runs()[stack]
    node_role = named(run, "aws:iam/role:Role", f"{stack}-karpenter-node-role")
    for node_class in node_classes(run):
        spec = node_class.inputs["spec"]
        assert spec["amiSelectorTerms"] == [{"alias": KARPENTER_AMI_ALIAS}]
        assert re.fullmatch(r"al2023@v20\d{6}", KARPENTER_AMI_ALIAS)  # a dated release, never @latest
        # The role's name (the mock names a role <resource name>-<id[5:12]>): Karpenter makes the instance profile.
        assert spec["role"] == f"{node_role.name}-{node_role.id[5:12]}"
        options = spec["metadataOptions"]
        assert options["httpTokens"] == "required" and options["httpPutResponseHopLimit"] == 1
        (root,) = spec["blockDeviceMappings"]
        assert root["deviceName"] == "/dev/xvda" and root["rootVolume"] is True
        ebs = root["ebs"]
        assert ebs["volumeType"] == "gp3" and ebs["encrypted"] is True and ebs["volumeSize"] == "200Gi"
        assert ebs["kmsKeyID"] == run.outputs["kmsKeyArn"]
        for key in ("data-residency", "data-classification", "owner", "cost-center", "environment"):
            assert spec["tags"][key], key
        assert spec["tags"]["data-residency"] == {"frankfurt": "eu", "dubai": "uae"}[stack]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_gpu_node_pools_taint_label_limit_and_never_consolidate_a_loading_model(stack: str) -> None:
    run = shipped_runs()[stack]
    models = [r for r in run.resources if r.type == "kubernetes:apps/v1:Deployment" and "vllm" in json.dumps(r.inputs)]
    assert models
    slowest = max(
        int(c["startupProbe"]["periodSeconds"]) * int(c["startupProbe"]["failureThreshold"])
        for m in models
        for c in m.inputs["spec"]["template"]["spec"]["containers"]
        if "startupProbe" in c
    )
    for pool in node_pools(run):
        spec = pool.inputs["spec"]
        template = spec["template"]
        assert template["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
        assert template["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
        assert template["spec"]["nodeClassRef"]["kind"] == "EC2NodeClass"
        assert int(spec["limits"]["nvidia.com/gpu"]) >= 1
        disruption = spec["disruption"]
        assert disruption["consolidationPolicy"] == "WhenEmpty"
        assert int(disruption["consolidateAfter"].removesuffix("s")) >= slowest
        assert disruption["budgets"] == [{"nodes": "1"}]
        requirements = {r["key"]: r["values"] for r in template["spec"]["requirements"]}
        assert requirements["kubernetes.io/arch"] == ["amd64"]
        assert requirements["karpenter.sh/capacity-type"] == ["on-demand"]
    # What the inference pods select and tolerate is exactly what the pools put on their nodes.
    for model in models:
        pod = model.inputs["spec"]["template"]["spec"]
        assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in [
            {k: t.get(k) for k in ("key", "operator", "value", "effect")} for t in pod["tolerations"]
        ]
        assert "nvidia.com/gpu.present" in json.dumps(pod.get("affinity") or pod.get("nodeSelector"))


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_nodepools_wait_for_the_controller_and_the_models_for_the_pools(stack: str) -> None:
    run = shipped_runs()[stack]
    release = named(run, "kubernetes:helm.sh/v3:Release", f"{stack}-karpenter-chart")
    entry = named(run, "aws:eks/accessEntry:AccessEntry", f"{stack}-karpenter-node")
    for obj in karpenter_objects(run):
        assert release.urn in obj.dependencies and entry.urn in obj.dependencies, obj.name
    services = [r for r in run.resources if r.type == "hybrid-llm-infra:inference:InferenceService"]
    assert services
    for service in services:  # depending on the GpuNodePools component is depending on each of its NodePools
        assert {p.urn for p in node_pools(run)} <= set(service.dependencies), service.name


# --- the controller: chart, IAM, queue ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_controller_is_the_pinned_oci_chart_on_the_system_nodes(stack: str) -> None:
    run = shipped_runs()[stack]
    release = named(run, "kubernetes:helm.sh/v3:Release", f"{stack}-karpenter-chart")
    inputs = release.inputs
    assert inputs["chart"] == f"{KARPENTER_REPOSITORY}/karpenter" and inputs["chart"].startswith("oci://")
    assert inputs["version"] == KARPENTER_VERSION == "1.14.1"
    assert "repositoryOpts" not in inputs or not inputs["repositoryOpts"]
    assert inputs["namespace"] == "kube-system" and inputs.get("skipCrds") is not True
    values = inputs["values"]
    assert values["nodeSelector"]["hybrid-llm-infra/node-pool"] == "system"
    assert values["serviceAccount"]["name"] == "karpenter"
    queue = named(run, "aws:sqs/queue:Queue", f"{stack}-karpenter-interruption")
    assert values["settings"]["interruptionQueue"] == queue.inputs["name"] == run.outputs["clusterName"]
    assert values["settings"]["clusterName"] == run.outputs["clusterName"]
    assert values["additionalLabels"]["data-residency"] == values["podLabels"]["data-residency"]
    association = named(run, "aws:eks/podIdentityAssociation:PodIdentityAssociation", f"{stack}-karpenter-controller")
    assert association.urn in release.dependencies
    system = named(run, "aws:eks/nodeGroup:NodeGroup", f"{stack}-gpu-system")
    assert system.urn in release.dependencies


def policies_of(run: StackRun, stack: str) -> dict[str, dict[str, Any]]:
    return {
        p.name.removeprefix(f"{stack}-karpenter-"): json.loads(p.inputs["policy"])
        for p in of_type(run, "aws:iam/policy:Policy")
        if p.name.startswith(f"{stack}-karpenter-")
    }


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_controller_iam_is_scoped_to_this_cluster_and_region(stack: str) -> None:
    run = shipped_runs()[stack]
    cluster, region = run.outputs["clusterName"], run.outputs["region"]
    docs = policies_of(run, stack)
    assert set(docs) == {
        "node-lifecycle",
        "iam-integration",
        "eks-integration",
        "interruption",
        "resource-discovery",
        "volume-key",
    }
    for name, doc in docs.items():
        assert len(json.dumps(doc, separators=(",", ":"))) < IAM_POLICY_LIMIT, name
        for statement in doc["Statement"]:
            assert statement["Effect"] == "Allow"
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                assert resource == "*" or f":{region}:" in resource or ":iam::" in resource, (name, resource)
    lifecycle = {s["Sid"]: s for s in docs["node-lifecycle"]["Statement"]}
    launch = lifecycle["AllowScopedEC2InstanceActionsWithTags"]["Condition"]
    assert launch["StringEquals"][f"aws:RequestTag/kubernetes.io/cluster/{cluster}"] == "owned"
    assert launch["StringLike"] == {"aws:RequestTag/karpenter.sh/nodepool": "*"}
    delete = lifecycle["AllowScopedDeletion"]["Condition"]
    assert delete["StringEquals"] == {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}
    unscoped = [s for doc in docs.values() for s in doc["Statement"] if s["Resource"] == "*"]
    for statement in unscoped:  # only reads (and the pricing/list calls that have no resource ARN)
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert all(re.match(r"(ec2:Describe|pricing:Get|iam:List)", a) for a in actions), actions
    regional = next(s for s in docs["resource-discovery"]["Statement"] if s["Sid"] == "AllowRegionalReadActions")
    assert regional["Condition"] == {"StringEquals": {"aws:RequestedRegion": region}}
    (pass_role,) = [s for s in docs["iam-integration"]["Statement"] if s["Action"] == "iam:PassRole"]
    node_role = named(run, "aws:iam/role:Role", f"{stack}-karpenter-node-role")
    assert pass_role["Resource"].endswith(f":role/{node_role.name}-{node_role.id[5:12]}")
    key_statements = docs["volume-key"]["Statement"]
    assert {s["Resource"] for s in key_statements} == {run.outputs["kmsKeyArn"]}
    assert all(
        s["Condition"]["StringEquals"]["kms:ViaService"] == f"ec2.{region}.amazonaws.com" for s in key_statements
    )
    (eks_statement,) = docs["eks-integration"]["Statement"]
    assert eks_statement["Resource"].endswith(f":cluster/{cluster}")


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_controller_role_is_for_pod_identity_of_this_cluster_and_nodes_join_through_an_ec2_linux_entry(
    stack: str,
) -> None:
    run = shipped_runs()[stack]
    role = named(run, "aws:iam/role:Role", f"{stack}-karpenter-controller")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    eks = named(run, "aws:eks/cluster:Cluster", f"{stack}-gpu-eks")
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"].endswith(f":cluster/{eks.inputs['name']}")
    association = named(run, "aws:eks/podIdentityAssociation:PodIdentityAssociation", f"{stack}-karpenter-controller")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("kube-system", "karpenter")
    agent = named(run, "aws:eks/addon:Addon", f"{stack}-gpu-addon-eks-pod-identity-agent")
    assert agent.urn in association.dependencies
    entry = named(run, "aws:eks/accessEntry:AccessEntry", f"{stack}-karpenter-node")
    node_role = named(run, "aws:iam/role:Role", f"{stack}-karpenter-node-role")
    assert entry.inputs["type"] == "EC2_LINUX"
    assert entry.inputs["principalArn"].endswith(f":role/{node_role.name}-{node_role.id[5:12]}")
    trust = json.loads(node_role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {
        a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in of_type(run, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith(f"{stack}-karpenter-node-role-")
    }
    assert attached == {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy"}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_interruption_queue_is_encrypted_tls_only_and_fed_by_its_rules_only(stack: str) -> None:
    run = shipped_runs()[stack]
    queue = named(run, "aws:sqs/queue:Queue", f"{stack}-karpenter-interruption")
    assert queue.inputs["sqsManagedSseEnabled"] is True and queue.inputs["messageRetentionSeconds"] == 300
    rules = {r.name.removeprefix(f"{stack}-karpenter-"): r for r in of_type(run, "aws:cloudwatch/eventRule:EventRule")}
    assert set(rules) == set(INTERRUPTION_EVENTS)
    for suffix, (source, detail_type) in INTERRUPTION_EVENTS.items():
        assert json.loads(rules[suffix].inputs["eventPattern"]) == {"source": [source], "detail-type": [detail_type]}
    targets = of_type(run, "aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == len(rules)
    queue_arn = json.loads(named(run, "aws:iam/policy:Policy", f"{stack}-karpenter-interruption").inputs["policy"])
    assert {t.inputs["arn"] for t in targets} == {queue_arn["Statement"][0]["Resource"]}
    policy = json.loads(
        named(run, "aws:sqs/queuePolicy:QueuePolicy", f"{stack}-karpenter-interruption").inputs["policy"]
    )
    allow, deny = policy["Statement"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    assert len(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == len(rules)
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == "*" and deny["Action"] == "sqs:*"


def test_dubai_nodepool_offers_only_the_zones_moto_says_offer_the_type() -> None:
    from infra import aws_data

    run = shipped_runs()["dubai"]
    (pool,) = node_pools(run)
    requirements = {r["key"]: r["values"] for r in pool.inputs["spec"]["template"]["spec"]["requirements"]}
    (instance_type,) = requirements["node.kubernetes.io/instance-type"]
    offered = {
        loc for t, loc in aws_data.instance_type_offerings("me-central-1", "availability-zone") if t == instance_type
    }
    assert sorted(offered) == requirements["topology.kubernetes.io/zone"] == ["me-central-1a", "me-central-1b"]


def test_component_args_refuse_a_pool_set_without_capacity() -> None:
    from components.karpenter_nodepools import GpuNodePoolArgs, GpuNodePoolsArgs

    def args(*pools: GpuNodePoolArgs) -> GpuNodePoolsArgs:
        return GpuNodePoolsArgs(
            cluster_name="c",
            node_role_name="r",
            ami_alias=KARPENTER_AMI_ALIAS,
            kms_key_arn="k",
            pools=pools,
            kubernetes_provider=None,  # type: ignore[arg-type]
            controller=(),
        )

    good = GpuNodePoolArgs(name="l40s", instance_types=["g6e.2xlarge"], zones=["eu-central-1a"], gpu_limit=2)
    assert args(good).pools == (good,)
    with pytest.raises(ValueError, match="no GPU capacity"):
        args()
    with pytest.raises(ValueError, match="no zone"):
        args(GpuNodePoolArgs(name="l40s", instance_types=["g6e.2xlarge"], zones=[], gpu_limit=2))
    with pytest.raises(ValueError, match="gpu_limit"):
        args(GpuNodePoolArgs(name="l40s", instance_types=["g6e.2xlarge"], zones=["eu-central-1a"], gpu_limit=0))
    with pytest.raises(ValueError, match="capacity types"):
        args(
            GpuNodePoolArgs(
                name="l40s",
                instance_types=["g6e.2xlarge"],
                zones=["eu-central-1a"],
                gpu_limit=2,
                capacity_types=["reserved"],
            )
        )


def test_price_lookups_never_leave_the_jurisdiction() -> None:
    from stacks.aws_karpenter import pricing_api_region, pricing_stays_in_jurisdiction

    # Karpenter's NewAPI: eu-* asks eu-central-1, ap-* ap-south-1, everything else us-east-1.
    assert pricing_api_region("eu-central-1") == "eu-central-1" and pricing_api_region("me-central-1") == "us-east-1"
    assert pricing_stays_in_jurisdiction("eu-central-1") and not pricing_stays_in_jurisdiction("me-central-1")
    settings = {
        stack: named(shipped_runs()[stack], "kubernetes:helm.sh/v3:Release", f"{stack}-karpenter-chart").inputs[
            "values"
        ]["settings"]
        for stack in AWS_STACKS
    }
    assert settings["frankfurt"]["isolatedVPC"] is False  # EU prices come from eu-central-1
    assert settings["dubai"]["isolatedVPC"] is True  # no call to us-east-1: the release's built-in price list
