"""AwsGpuInferenceCluster under the mock engine: control plane, system node group, IAM, Kubernetes side."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.aws_gpu_cluster import (
    AwsGpuInferenceCluster,
    AwsGpuInferenceClusterArgs,
    ModelReader,
)
from components.helm_chart import HelmChart
from stackconfig.aws_cluster import (
    DEVICE_PLUGIN_CHART,
    DEVICE_PLUGIN_REPOSITORY,
    DEVICE_PLUGIN_VERSION,
    EKS_ADDON_VERSIONS,
)

KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-4333-8444-555555555555"
BUCKET_ARN = "arn:aws:s3:::models-bucket"
TAGS = {"data-residency": "eu", "data-classification": "confidential"}
LABELS = {"data-residency": "eu", "data-classification": "confidential"}

EKS = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ADDON = "aws:eks/addon:Addon"
DEPLOYER = "arn:aws:iam::123456789012:role/deploy"
DEVICE_PLUGIN = HelmChart(DEVICE_PLUGIN_REPOSITORY, DEVICE_PLUGIN_CHART, DEVICE_PLUGIN_VERSION)


def cluster_args(**overrides: Any) -> AwsGpuInferenceClusterArgs:
    fields: dict[str, Any] = {
        "region": "eu-central-1",
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b", "subnet-c"],
        "kms_key_arn": KEY_ARN,
        "kubernetes_version": "1.33",
        "model_bucket_arn": BUCKET_ARN,
        "addon_versions": EKS_ADDON_VERSIONS["1.33"],
        "device_plugin": DEVICE_PLUGIN,
        "admin_principal_arns": [DEPLOYER],
        "model_readers": [ModelReader("inference", "llama")],
        "tags": TAGS,
        "labels": LABELS,
    }
    return AwsGpuInferenceClusterArgs(**{**fields, **overrides})


@pytest.fixture
def built(mock_stack: Any) -> tuple[Any, AwsGpuInferenceCluster]:
    cluster = AwsGpuInferenceCluster("test-gpu", cluster_args())
    mock_stack.settle()
    return mock_stack, cluster


def test_control_plane_is_private_encrypted_and_logs_to_its_own_encrypted_group(built: Any) -> None:
    stack, _ = built
    (eks,) = stack.of_type(EKS)
    inputs = eks.inputs
    assert inputs["name"] == "test-gpu" and inputs["version"] == "1.33"
    assert inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in inputs["vpcConfig"]
    assert inputs["accessConfig"]["authenticationMode"] == "API"
    assert inputs["encryptionConfig"] == {"provider": {"keyArn": KEY_ARN}, "resources": ["secrets"]}
    assert inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    (group,) = stack.of_type(LOG_GROUP)
    assert group.inputs["name"] == "/aws/eks/test-gpu/cluster"
    assert group.inputs["kmsKeyId"] == KEY_ARN
    assert 0 < group.inputs["retentionInDays"] <= 731
    # Created before the cluster, so EKS never creates its own unencrypted group.
    assert group.urn in eks.dependencies


def test_public_endpoint_only_with_an_explicit_allowlist(mock_stack: Any) -> None:
    with pytest.raises(ValueError, match="allowlist"):
        cluster_args(endpoint_public_access=True)
    with pytest.raises(ValueError, match="/0"):
        cluster_args(endpoint_public_access=True, public_access_cidrs=["0.0.0.0/0"])
    AwsGpuInferenceCluster("pub", cluster_args(endpoint_public_access=True, public_access_cidrs=["198.51.100.0/24"]))
    (eks,) = mock_stack.of_type(EKS)
    assert eks.inputs["vpcConfig"]["endpointPublicAccess"] is True
    assert eks.inputs["vpcConfig"]["publicAccessCidrs"] == ["198.51.100.0/24"]


def test_only_the_system_node_group_is_managed_and_gpu_nodes_find_the_cluster_security_group(built: Any) -> None:
    stack, cluster = built
    (system,) = stack.of_type(NODE_GROUP)  # GPU nodes come from Karpenter's NodePools, not managed node groups
    assert system.name == "test-gpu-system"
    assert system.inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert "taints" not in system.inputs
    assert system.inputs["labels"] == {"hybrid-llm-infra/node-pool": "system"}
    assert system.inputs["subnetIds"] == ["subnet-a", "subnet-b", "subnet-c"]
    (tag,) = stack.of_type("aws:ec2/tag:Tag")
    # The security group EKS creates and attaches to every node, tagged for Karpenter's securityGroupSelectorTerms.
    group = stack.resolve(cluster.cluster.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id))
    assert group.startswith("sg-") and tag.inputs["resourceId"] == group
    assert (tag.inputs["key"], tag.inputs["value"]) == ("karpenter.sh/discovery", "test-gpu")
    assert cluster.gpu_capacity == []


def test_launch_templates_require_imdsv2_hop_1_and_encrypt_gp3_root_with_the_stack_key(built: Any) -> None:
    stack, _ = built
    templates = stack.of_type(LAUNCH_TEMPLATE)
    assert {t.name for t in templates} == {"test-gpu-system-lt"}
    for template in templates:
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required" and metadata["httpPutResponseHopLimit"] == 1
        (device,) = template.inputs["blockDeviceMappings"]
        ebs = device["ebs"]
        assert ebs["volumeType"] == "gp3" and ebs["encrypted"] == "true" and ebs["kmsKeyId"] == KEY_ARN
        kinds = {spec["resourceType"]: spec["tags"] for spec in template.inputs["tagSpecifications"]}
        assert set(kinds) >= {"instance", "volume"}
        for tags in kinds.values():
            assert tags["data-residency"] == "eu" and tags["data-classification"] == "confidential"
    assert templates[0].inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 50


def test_roles_carry_only_the_managed_policies_they_need(built: Any) -> None:
    stack, _ = built
    attachments = stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    by_role: dict[str, set[str]] = {}
    for attachment in attachments:
        role = attachment.name.split("-role-")[0] + "-role"
        by_role.setdefault(role, set()).add(attachment.inputs["policyArn"].rsplit("/", 1)[-1])
    assert by_role == {
        "test-gpu-cluster-role": {"AmazonEKSClusterPolicy"},
        "test-gpu-node-role": {
            "AmazonEKSWorkerNodePolicy",
            "AmazonEC2ContainerRegistryPullOnly",
            "AmazonEKS_CNI_Policy",
        },
    }
    role = stack.named("aws:iam/role:Role", "test-gpu-node-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_model_reader_may_read_the_bucket_and_nothing_else(built: Any) -> None:
    stack, cluster = built
    role = stack.named("aws:iam/role:Role", "test-gpu-model-reader")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == stack.resolve(cluster.cluster.arn)
    policy = json.loads(stack.named("aws:iam/rolePolicy:RolePolicy", "test-gpu-model-reader").inputs["policy"])
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:GetObjectVersion", "kms:Decrypt"}
    resources = {s["Resource"] for s in policy["Statement"]}
    assert resources == {BUCKET_ARN, f"{BUCKET_ARN}/*", KEY_ARN}
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    kms = next(s for s in policy["Statement"] if s["Action"] == "kms:Decrypt")
    assert kms["Condition"]["StringEquals"]["kms:ViaService"] == "s3.eu-central-1.amazonaws.com"
    (association,) = stack.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert association.inputs["namespace"] == "inference" and association.inputs["serviceAccount"] == "llama"
    assert association.inputs["roleArn"] == stack.resolve(role_arn(cluster))
    agent = stack.named(ADDON, "test-gpu-addon-eks-pod-identity-agent")
    assert agent.urn in association.dependencies


def role_arn(cluster: AwsGpuInferenceCluster) -> Any:
    return cluster.model_reader_role.arn


def test_admins_come_through_access_entries(mock_stack: Any) -> None:
    principal = "arn:aws:iam::123456789012:role/platform-admins"
    AwsGpuInferenceCluster("adm", cluster_args(admin_principal_arns=[principal]))
    (entry,) = mock_stack.of_type("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["principalArn"] == principal and entry.inputs["type"] == "STANDARD"
    (association,) = mock_stack.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert association.inputs["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert association.inputs["accessScope"] == {"type": "cluster"}


def test_kubeconfig_is_secret_and_uses_exec_auth(built: Any) -> None:
    stack, cluster = built
    assert stack.is_secret(cluster.kubeconfig)
    config = json.loads(stack.resolve(cluster.kubeconfig))
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"][:4] == ["eks", "get-token", "--cluster-name", "test-gpu"]
    assert "token" not in user["user"]
    (entry,) = config["clusters"]
    assert entry["cluster"]["server"].endswith(".gr7.eu-central-1.eks.amazonaws.com")
    (provider,) = stack.of_type("pulumi:providers:kubernetes")
    assert provider.name == "test-gpu-k8s"


def test_device_plugin_is_a_pinned_helm_release_on_the_gpu_nodes(built: Any) -> None:
    stack, _ = built
    (release,) = stack.of_type("kubernetes:helm.sh/v3:Release")
    inputs = release.inputs
    assert inputs["chart"] == "nvidia-device-plugin"
    assert inputs["version"] == DEVICE_PLUGIN_VERSION and inputs["version"][0].isdigit()
    assert inputs["repositoryOpts"]["repo"] == DEVICE_PLUGIN_REPOSITORY
    values = inputs["values"]
    assert values["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in values[
        "tolerations"
    ]
    (provider,) = stack.of_type("pulumi:providers:kubernetes")
    assert release.provider == provider.urn
    system = stack.named(NODE_GROUP, "test-gpu-system")
    assert system.urn in release.dependencies


def test_namespaces_carry_residency_labels_and_pod_security(built: Any) -> None:
    stack, _ = built
    namespaces = {
        n.inputs["metadata"]["name"]: n.inputs["metadata"]["labels"]
        for n in stack.of_type("kubernetes:core/v1:Namespace")
    }
    assert namespaces["inference"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces["nvidia-device-plugin"]["pod-security.kubernetes.io/enforce"] == "privileged"
    for labels in namespaces.values():
        assert labels["data-residency"] == "eu"


def test_every_child_is_parented_and_named_after_the_component(built: Any) -> None:
    stack, _ = built
    (component,) = stack.of_type("hybrid-llm-infra:compute:AwsGpuInferenceCluster")
    children = [r for r in stack.capture.resources.values() if r.parent == component.urn]
    assert len(children) > 15
    assert all(r.name.startswith("test-gpu-") for r in children)


def test_the_creator_gets_no_implicit_access_and_every_kubernetes_object_waits_for_the_admins(built: Any) -> None:
    stack, _ = built
    (eks,) = stack.of_type(EKS)
    assert eks.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    (entry,) = stack.of_type("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["principalArn"] == DEPLOYER
    (grant,) = stack.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    (provider,) = stack.of_type("pulumi:providers:kubernetes")
    assert grant.urn in provider.dependencies
    kubernetes_objects = [r for r in stack.capture.resources.values() if r.provider == provider.urn]
    assert kubernetes_objects  # the namespaces, policies and the device plugin, all through that provider


def test_a_cluster_without_admins_is_refused() -> None:
    with pytest.raises(ValueError, match="no one"):
        cluster_args(admin_principal_arns=[])


def test_managed_addons_are_pinned_and_the_cni_enforces_network_policy(built: Any) -> None:
    stack, _ = built
    addons = {a.inputs["addonName"]: a for a in stack.of_type(ADDON)}
    assert set(addons) == {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent"}
    for name, addon in addons.items():
        assert addon.inputs["addonVersion"] == EKS_ADDON_VERSIONS["1.33"][name]
        assert addon.inputs["resolveConflictsOnCreate"] == "OVERWRITE"
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert "configurationValues" not in addons["coredns"].inputs
    system = stack.named(NODE_GROUP, "test-gpu-system")
    for early in ("vpc-cni", "eks-pod-identity-agent"):
        assert addons[early].urn in system.dependencies
    for late in ("kube-proxy", "coredns"):
        assert system.urn in addons[late].dependencies


def test_missing_addon_version_is_refused() -> None:
    with pytest.raises(ValueError, match="coredns"):
        cluster_args(addon_versions={k: v for k, v in EKS_ADDON_VERSIONS["1.33"].items() if k != "coredns"})


def test_device_plugin_from_an_oci_mirror_names_the_chart_by_reference(mock_stack: Any) -> None:
    mirror = HelmChart("oci://registry.internal.example/charts", "nvidia-device-plugin", "0.17.1")
    AwsGpuInferenceCluster("oci", cluster_args(device_plugin=mirror))
    (release,) = mock_stack.of_type("kubernetes:helm.sh/v3:Release")
    assert release.inputs["chart"] == "oci://registry.internal.example/charts/nvidia-device-plugin"
    assert "repositoryOpts" not in release.inputs
