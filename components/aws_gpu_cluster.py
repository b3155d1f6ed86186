"""An EKS cluster for GPU inference: private control plane, encrypted secrets and logs, a system node group.

Children: IAM roles (cluster, nodes, and a pod role that may only read the model bucket), the control-plane
log group (created before the cluster so EKS never creates an unencrypted one), the cluster with access
entries (the only admins: no implicit creator access), the EKS-managed add-ons (VPC CNI with network policy,
kube-proxy, CoreDNS, Pod Identity agent; pinned), a system CPU node group with a hardened launch template, the
``karpenter.sh/discovery`` tag on the cluster security group (the group EKS attaches to nodes; Karpenter's nodes
find it by that tag), and — through a Kubernetes provider built from the cluster's outputs — residency-labelled
namespaces and the NVIDIA device plugin. GPU nodes come from Karpenter (components/karpenter*.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

# Submodules imported here, not on first use: `infra check` warms them once before forking its stack workers.
from pulumi_aws import cloudwatch, ec2, eks, iam
from pulumi_kubernetes.core import v1 as core_v1
from pulumi_kubernetes.helm import v3 as helm_v3
from pulumi_kubernetes.meta import v1 as meta_v1

from components.eks_addons import AFTER_NODES, BEFORE_NODES, managed_addons, missing_versions
from components.eks_iam import model_read_policy, pod_identity_trust, service_trust
from components.helm_chart import HelmChart, pinned_release
from components.kubeconfig import kubeconfig
from components.network_policies import default_deny_ingress

TYPE_TOKEN = "hybrid-llm-infra:compute:AwsGpuInferenceCluster"
# Resolve the SDK's lazy modules when this module is imported, not at the first registration:
# `infra check` imports the program once and then forks a worker per stack, which share them.
_SDK = (
    aws.get_partition,
    aws.get_caller_identity,
    cloudwatch.LogGroup,
    ec2.LaunchTemplate,
    ec2.Tag,
    eks.Cluster,
    eks.NodeGroup,
    eks.Addon,
    eks.AccessEntry,
    eks.AccessPolicyAssociation,
    eks.PodIdentityAssociation,
    iam.Role,
    iam.RolePolicy,
    iam.RolePolicyAttachment,
    k8s.Provider,
    core_v1.Namespace,
    helm_v3.Release,
)
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator")
SYSTEM_AMI_TYPE = "AL2023_x86_64_STANDARD"
GPU_TAINT = ("nvidia.com/gpu", "true", "NO_SCHEDULE")
"""(key, value, effect) as the EKS API spells it; Kubernetes sees ``nvidia.com/gpu=true:NoSchedule`` (the GPU
NodePools set it)."""
GPU_NODE_LABEL = ("nvidia.com/gpu.present", "true")
"""What the device plugin's and the inference pods' node affinity select on."""
DISCOVERY_TAG = "karpenter.sh/discovery"
"""Karpenter's convention (getting-started guide): subnets and security groups tagged with the cluster name."""
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy")


@dataclass(frozen=True)
class SystemNodeGroupArgs:
    """The CPU node group for add-ons."""

    instance_types: Sequence[str] = ("m6i.large",)
    min_size: int = 2
    desired_size: int = 2
    max_size: int = 4
    disk_size_gib: int = 50


@dataclass(frozen=True)
class ModelReader:
    """A Kubernetes service account that may read the model bucket (through EKS Pod Identity)."""

    namespace: str
    service_account: str


@dataclass(frozen=True)
class AwsGpuInferenceClusterArgs:
    """Inputs of AwsGpuInferenceCluster."""

    region: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets of every AZ: control-plane network interfaces and the system node group."""
    kms_key_arn: pulumi.Input[str]
    """The stack's key: secrets envelope encryption, control-plane logs, node root volumes."""
    kubernetes_version: str
    model_bucket_arn: pulumi.Input[str]
    addon_versions: Mapping[str, str]
    """Pinned version of each managed add-on (vpc-cni, kube-proxy, coredns, eks-pod-identity-agent)."""
    device_plugin: HelmChart
    """The NVIDIA device plugin chart (its repository may be a mirror)."""
    admin_principal_arns: Sequence[str]
    """IAM principals given cluster-admin through access entries: the only way in (the creator gets no implicit
    access), so the identity that runs `pulumi up` must be one of them."""
    model_readers: Sequence[ModelReader] = ()
    system_node_group: SystemNodeGroupArgs = field(default_factory=SystemNodeGroupArgs)
    endpoint_public_access: bool = False
    public_access_cidrs: Sequence[str] = ()
    """With ``endpoint_public_access``: the only networks that may reach the public endpoint (required)."""
    log_retention_days: int = 365
    namespaces: Sequence[str] = ("inference",)
    """Namespaces for workloads (Pod Security "restricted"), created on the cluster."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Residency tags, set explicitly where the provider's default tags do not reach (instances, volumes)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Residency labels for every Kubernetes object."""

    def __post_init__(self) -> None:
        if not self.admin_principal_arns:
            raise ValueError("admin_principal_arns is empty: no one (not even the deployer) could reach the cluster")
        if missing_versions(self.addon_versions):
            raise ValueError(f"no pinned version for add-on(s) {', '.join(missing_versions(self.addon_versions))}")
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise ValueError("a public endpoint needs an explicit public_access_cidrs allowlist")
        if any(cidr.endswith("/0") for cidr in self.public_access_cidrs):
            raise ValueError("public_access_cidrs must not contain a /0")


class AwsGpuInferenceCluster(pulumi.ComponentResource):
    """EKS with private endpoint, KMS-encrypted secrets and logs, access entries, the system node group."""

    cluster: eks.Cluster
    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    """Secret: the kubeconfig (exec auth through ``aws eks get-token``)."""
    kubernetes_provider: k8s.Provider
    log_group: cloudwatch.LogGroup
    cluster_role: iam.Role
    node_role: iam.Role
    model_reader_role: iam.Role
    system_node_group: eks.NodeGroup
    node_security_group_tag: ec2.Tag
    """``karpenter.sh/discovery=<cluster>`` on the cluster security group EKS creates and attaches to nodes."""
    partition: str
    account_id: str
    gpu_capacity: list[pulumi.Resource]
    """What provides GPU nodes (the stack adds Karpenter's NodePools): workloads on GPU nodes depend on it."""
    namespaces: dict[str, core_v1.Namespace]
    device_plugin: helm_v3.Release
    addons: dict[str, eks.Addon]
    pod_identity_associations: dict[tuple[str, str], eks.PodIdentityAssociation]
    """By (namespace, service account): a pod of that account must not start before its association exists,
    or it runs without credentials until recreated."""

    def __init__(self, name: str, args: AwsGpuInferenceClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._name = name
        self._args = args
        self.gpu_capacity = []
        invoke = pulumi.InvokeOptions(parent=self)
        self.partition = self._partition = aws.get_partition(opts=invoke).partition
        self.account_id = self._account = aws.get_caller_identity(opts=invoke).account_id
        cluster_name = name

        # Created first, under the name EKS writes to, so EKS never makes its own unencrypted, unbounded group.
        self.log_group = cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{cluster_name}/cluster",
            kms_key_id=args.kms_key_arn,
            retention_in_days=args.log_retention_days,
            tags=self._tags("control-plane-logs"),
            opts=self._child(),
        )
        self.cluster_role, cluster_attachments = self._cluster_role()
        self.node_role, node_attachments = self._node_role()

        self.cluster = eks.Cluster(
            f"{name}-eks",
            name=cluster_name,
            version=args.kubernetes_version,
            role_arn=self.cluster_role.arn,
            vpc_config=eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=args.endpoint_public_access,
                public_access_cidrs=list(args.public_access_cidrs) if args.endpoint_public_access else None,
            ),
            access_config=eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # Off: the creator would be a cluster-admin for the cluster's life, invisible to this program
                # and not revocable through it. Admins (the deploy role included) are the access entries below.
                bootstrap_cluster_creator_admin_permissions=False,
            ),
            encryption_config=eks.ClusterEncryptionConfigArgs(
                provider=eks.ClusterEncryptionConfigProviderArgs(key_arn=args.kms_key_arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            upgrade_policy=eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            tags=self._tags("eks"),
            opts=self._child(depends_on=[self.log_group, *cluster_attachments]),
        )
        self.cluster_name = self.cluster.name
        self.endpoint = self.cluster.endpoint

        admin_access = self._access_entries()
        self.addons = managed_addons(
            f"{name}-addon", BEFORE_NODES, self.cluster.name, args.addon_versions, args.tags, self._child()
        )
        node_prerequisites = [*node_attachments, *self.addons.values()]
        self.system_node_group = self._system_node_group(node_prerequisites)
        self.addons |= managed_addons(
            f"{name}-addon",
            AFTER_NODES,
            self.cluster.name,
            args.addon_versions,
            args.tags,
            self._child(depends_on=[self.system_node_group]),
        )
        self.model_reader_role, self.pod_identity_associations = self._model_reader(
            self.addons["eks-pod-identity-agent"]
        )
        # The group EKS made is not a resource of this program: a separate tag resource is how to tag it
        # (pulumi-aws ec2.Tag; terraform-aws-eks tags it the same way for Karpenter).
        self.node_security_group_tag = ec2.Tag(
            f"{name}-node-sg-discovery",
            resource_id=self.cluster.vpc_config.cluster_security_group_id,
            key=DISCOVERY_TAG,
            value=cluster_name,
            opts=self._child(),
        )

        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data).apply(
                lambda parts: kubeconfig(parts[0], parts[1], parts[2], args.region)
            )
        )
        # Every Kubernetes object waits for the admins' access (the deployer's included) to be granted.
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=self._child(depends_on=admin_access),
        )
        self.namespaces = {ns: self._namespace(ns, "restricted", [self.system_node_group]) for ns in args.namespaces}
        self.device_plugin = self._device_plugin()
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "endpoint": self.endpoint,
                "kubeconfig": self.kubeconfig,
                "modelReaderRoleArn": self.model_reader_role.arn,
            }
        )

    # --- helpers ------------------------------------------------------------------------------------
    def _child(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _tags(self, suffix: str) -> dict[str, str]:
        return {**self._args.tags, "Name": f"{self._name}-{suffix}"}

    def _policy_arn(self, policy: str) -> str:
        return f"arn:{self._partition}:iam::aws:policy/{policy}"

    def _role(
        self, suffix: str, trust: dict[str, object], managed: Sequence[str]
    ) -> tuple[iam.Role, list[pulumi.Resource]]:
        role = iam.Role(
            f"{self._name}-{suffix}",
            assume_role_policy=json.dumps(trust),
            tags=self._tags(suffix),
            opts=self._child(),
        )
        attachments: list[pulumi.Resource] = [
            iam.RolePolicyAttachment(
                f"{self._name}-{suffix}-{policy.lower().replace('_', '-')}",
                role=role.name,
                policy_arn=self._policy_arn(policy),
                opts=self._child(),
            )
            for policy in managed
        ]
        return role, attachments

    def _cluster_role(self) -> tuple[iam.Role, list[pulumi.Resource]]:
        role, attachments = self._role(
            "cluster-role", service_trust("eks.amazonaws.com", tag_session=True), CLUSTER_POLICIES
        )
        # Envelope encryption of Kubernetes secrets with the stack key: only these actions, only this key.
        attachments.append(
            iam.RolePolicy(
                f"{self._name}-cluster-role-kms",
                role=role.id,
                policy=pulumi.Output.from_input(self._args.kms_key_arn).apply(
                    lambda arn: json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:ListGrants"],
                                    "Resource": arn,
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": "kms:CreateGrant",
                                    "Resource": arn,
                                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                                },
                            ],
                        }
                    )
                ),
                opts=self._child(),
            )
        )
        return role, attachments

    def _node_role(self) -> tuple[iam.Role, list[pulumi.Resource]]:
        return self._role("node-role", service_trust("ec2.amazonaws.com"), NODE_POLICIES)

    def _access_entries(self) -> list[pulumi.Resource]:
        admin_policy = f"arn:{self._partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        granted: list[pulumi.Resource] = []
        for index, principal in enumerate(self._args.admin_principal_arns):
            entry = eks.AccessEntry(
                f"{self._name}-admin-{index}",
                cluster_name=self.cluster.name,
                principal_arn=principal,
                type="STANDARD",
                tags=self._tags(f"admin-{index}"),
                opts=self._child(),
            )
            granted.append(
                eks.AccessPolicyAssociation(
                    f"{self._name}-admin-{index}",
                    cluster_name=self.cluster.name,
                    principal_arn=principal,
                    policy_arn=admin_policy,
                    access_scope=eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    opts=self._child(depends_on=[entry]),
                )
            )
        return granted

    def _system_node_group(self, node_attachments: list[pulumi.Resource]) -> eks.NodeGroup:
        spec = self._args.system_node_group
        template = self._launch_template("system", spec.disk_size_gib)
        return eks.NodeGroup(
            f"{self._name}-system",
            cluster_name=self.cluster.name,
            node_role_arn=self.node_role.arn,
            subnet_ids=list(self._args.subnet_ids),
            ami_type=SYSTEM_AMI_TYPE,
            instance_types=list(spec.instance_types),
            capacity_type="ON_DEMAND",
            scaling_config=eks.NodeGroupScalingConfigArgs(
                min_size=spec.min_size, desired_size=spec.desired_size, max_size=spec.max_size
            ),
            launch_template=eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
            update_config=eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={"hybrid-llm-infra/node-pool": "system"},
            tags=self._tags("system"),
            opts=self._child(depends_on=node_attachments),
        )

    def _launch_template(self, suffix: str, disk_size_gib: int) -> ec2.LaunchTemplate:
        """IMDSv2 only with hop limit 1 (pods cannot reach node credentials), encrypted gp3 root volume."""
        instance_tags = self._tags(suffix)
        return ec2.LaunchTemplate(
            f"{self._name}-{suffix}-lt",
            description=f"{self._name} {suffix} nodes: IMDSv2, encrypted gp3 root",
            update_default_version=True,
            metadata_options=ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        kms_key_id=self._args.kms_key_arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            # Instances and volumes launched by the node group get no provider default tags: tag them here.
            tag_specifications=[
                ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=instance_tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=instance_tags,
            opts=self._child(),
        )

    def _model_reader(
        self, pod_identity_agent: pulumi.Resource
    ) -> tuple[iam.Role, dict[tuple[str, str], eks.PodIdentityAssociation]]:
        trust = pulumi.Output.from_input(self.cluster.arn).apply(
            lambda arn: json.dumps(pod_identity_trust(self._account, arn))
        )
        role = iam.Role(
            f"{self._name}-model-reader",
            assume_role_policy=trust,
            tags=self._tags("model-reader"),
            opts=self._child(),
        )
        iam.RolePolicy(
            f"{self._name}-model-reader",
            role=role.id,
            policy=pulumi.Output.all(self._args.model_bucket_arn, self._args.kms_key_arn).apply(
                lambda arns: json.dumps(model_read_policy(arns[0], arns[1], self._args.region))
            ),
            opts=self._child(),
        )
        associations = {}
        for reader in self._args.model_readers:
            associations[(reader.namespace, reader.service_account)] = eks.PodIdentityAssociation(
                f"{self._name}-model-reader-{reader.namespace}-{reader.service_account}",
                cluster_name=self.cluster.name,
                namespace=reader.namespace,
                service_account=reader.service_account,
                role_arn=role.arn,
                tags=self._tags(f"model-reader-{reader.service_account}"),
                opts=self._child(depends_on=[pod_identity_agent]),
            )
        return role, associations

    def _namespace(self, namespace: str, level: str, depends_on: list[pulumi.Resource]) -> core_v1.Namespace:
        ns = core_v1.Namespace(
            f"{self._name}-ns-{namespace}",
            metadata=meta_v1.ObjectMetaArgs(
                name=namespace,
                labels={
                    **self._args.labels,
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/audit": level,
                    "pod-security.kubernetes.io/warn": level,
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=self.kubernetes_provider, depends_on=depends_on),
        )
        # Default-deny ingress for the whole namespace (policy namespace-default-deny); workloads open what they
        # serve with their own NetworkPolicy (InferenceService does). Egress stays as the workloads set it.
        default_deny_ingress(
            f"{self._name}-{namespace}-default-deny-ingress",
            namespace,
            self._args.labels,
            pulumi.ResourceOptions(parent=self, provider=self.kubernetes_provider, depends_on=[ns]),
        )
        return ns

    def _device_plugin(self) -> helm_v3.Release:
        # The plugin mounts the kubelet's device-plugin socket directory: privileged, in its own namespace.
        # The chart (0.17) has no value for extra pod labels: its pods carry the chart's labels, and the
        # residency labels are on their namespace.
        namespace = self._namespace("nvidia-device-plugin", "privileged", [self.system_node_group])
        key, value, _ = GPU_TAINT
        return pinned_release(
            f"{self._name}-nvidia-device-plugin",
            release_name="nvidia-device-plugin",
            source=self._args.device_plugin,
            namespace=namespace.metadata.name,
            values={
                "nodeSelector": {GPU_NODE_LABEL[0]: GPU_NODE_LABEL[1]},
                "tolerations": [{"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}],
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=self.kubernetes_provider,
                # A DaemonSet for GPU nodes only: ready at zero pods until Karpenter launches the first GPU node.
                depends_on=[self.system_node_group],
            ),
        )
