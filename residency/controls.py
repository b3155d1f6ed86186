"""The controls catalogue: every rule written once, used by the policy pack, the audit and every report.

A control has an id (the policy name in the pack, the rule id in SARIF), what it checks, the
articles of law it serves, and what to do when it fails. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Severity = Literal["low", "medium", "high", "critical"]
Enforcement = Literal["advisory", "mandatory", "disabled"]


@dataclass(frozen=True)
class Citation:
    framework: Literal["GDPR", "UAE PDPL", "CCPA"]
    article: str

    def __str__(self) -> str:
        return f"{self.framework} {self.article}"


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    description: str
    severity: Severity
    enforcement: Enforcement
    citations: tuple[Citation, ...]
    remediation: str

    @property
    def framework(self) -> str:
        """All citations, for one-line display: 'GDPR Art. 32; UAE PDPL Art. 20'."""
        return "; ".join(str(c) for c in self.citations)


GDPR_TRANSFER = Citation("GDPR", "Art. 44-46")
GDPR_SECURITY = Citation("GDPR", "Art. 32")
GDPR_RECORDS = Citation("GDPR", "Art. 30")
GDPR_BY_DESIGN = Citation("GDPR", "Art. 25")
GDPR_STORAGE_LIMITATION = Citation("GDPR", "Art. 5(1)(e)")
PDPL_TRANSFER = Citation("UAE PDPL", "Art. 22-23")
PDPL_SECURITY = Citation("UAE PDPL", "Art. 20")
PDPL_PRINCIPLES = Citation("UAE PDPL", "Art. 5")
CCPA_SECURITY = Citation("CCPA", "Sec. 1798.150")
CCPA_RETENTION = Citation("CCPA", "Sec. 1798.100(a)(3)")

_CONTROLS = (
    Control(
        "residency-tags",
        "Residency tags and labels present",
        "Every taggable AWS resource carries the tags data-residency, data-classification, owner, cost-center and "
        "environment (provider default tags count); every Kubernetes object carries them as labels (but "
        "CustomResourceDefinitions: API types that hold no data).",
        "high",
        "mandatory",
        (GDPR_RECORDS, PDPL_PRINCIPLES),
        "Set the stack's deployment owner/costCenter/environment in config so the provider's default tags apply, "
        "or add the missing tags/labels to the resource.",
    ),
    Control(
        "residency-matches-location",
        "data-residency matches where the resource is",
        "The data-residency tag or label names the jurisdiction of the resource's actual AWS region (from its "
        "provider) or of the on-prem site.",
        "critical",
        "mandatory",
        (GDPR_TRANSFER, PDPL_TRANSFER),
        "Deploy the resource in a region of the jurisdiction its data belongs to, or correct the tag if the "
        "classification of the data allows it.",
    ),
    Control(
        "region-in-jurisdiction",
        "No resource outside the stack's jurisdiction",
        "Every AWS resource's region belongs to the jurisdiction of its stack.",
        "critical",
        "mandatory",
        (GDPR_TRANSFER, PDPL_TRANSFER),
        "Move the resource to an allowed region of the jurisdiction (EU: eu-*; UAE: me-central-1) or delete it.",
    ),
    Control(
        "restricted-data-onprem-only",
        "Restricted data only on-prem",
        "A resource classified 'restricted' (personal or special-category data) is never created on AWS.",
        "critical",
        "mandatory",
        (GDPR_TRANSFER, GDPR_SECURITY, PDPL_TRANSFER),
        "Serve restricted-data workloads from the on-prem stack; lower the classification only after a DPIA.",
    ),
    Control(
        "s3-encryption-and-access",
        "S3 buckets encrypted, private, TLS-only, versioned, replicated only in-jurisdiction",
        "SSE-KMS with a key in the bucket's region, all four public-access blocks, a policy that denies non-TLS "
        "requests, versioning, and no replication to a bucket in another jurisdiction.",
        "high",
        "mandatory",
        (GDPR_SECURITY, GDPR_TRANSFER, PDPL_SECURITY, CCPA_SECURITY),
        "Use the component's model bucket, or add SSE-KMS with the stack key, a PublicAccessBlock with all four "
        "settings true, a deny statement on aws:SecureTransport=false, versioning, and remove foreign replication.",
    ),
    Control(
        "kms-key-hygiene",
        "KMS keys rotate and name their principals",
        "Customer-managed keys have automatic rotation on and no key-policy statement allows the principal '*'.",
        "high",
        "mandatory",
        (GDPR_SECURITY, PDPL_SECURITY, CCPA_SECURITY),
        "Set enable_key_rotation=True and replace '*' principals with the account root, roles or service principals.",
    ),
    Control(
        "eks-hardening",
        "EKS clusters encrypt secrets, keep the endpoint private and log the control plane",
        "Secrets envelope encryption with a KMS key, no public endpoint open to 0.0.0.0/0, and control-plane "
        "logging of api, audit and authenticator.",
        "high",
        "mandatory",
        (GDPR_SECURITY, PDPL_SECURITY),
        "Set encryption_config with the stack key, endpoint_public_access=False (or a CIDR allowlist), and "
        "enabled_cluster_log_types ['api','audit','authenticator'].",
    ),
    Control(
        "ec2-imdsv2-encrypted-volumes",
        "Instances require IMDSv2 and encrypt their volumes",
        "Launch templates and instances set http_tokens=required and encrypt every EBS volume.",
        "high",
        "mandatory",
        (GDPR_SECURITY, PDPL_SECURITY, CCPA_SECURITY),
        "Set metadata_options http_tokens='required' (hop limit 1) and block_device_mappings ebs.encrypted=true.",
    ),
    Control(
        "karpenter-gpu-limits",
        "GPU NodePools cap their GPUs",
        "Every Karpenter NodePool sets spec.limits on nvidia.com/gpu to a positive number: a runaway scale-up is a "
        "cost and capacity incident, and a NodePool without limits launches nodes without end.",
        "high",
        "mandatory",
        (GDPR_SECURITY, PDPL_SECURITY),
        "Set spec.limits['nvidia.com/gpu'] on the NodePool (config gpuNodePools[].gpuLimit), at least one node's GPUs.",
    ),
    Control(
        "karpenter-node-hardening",
        "Karpenter nodes require IMDSv2 and encrypt their volumes",
        "Every EC2NodeClass sets metadataOptions httpTokens 'required' with httpPutResponseHopLimit 1 (pods cannot "
        "reach the node role's credentials) and explicit blockDeviceMappings whose every EBS volume is encrypted with "
        "a customer-managed key (kmsKeyID), not left to Karpenter's defaults.",
        "high",
        "mandatory",
        (GDPR_SECURITY, PDPL_SECURITY, CCPA_SECURITY),
        "Set metadataOptions {httpTokens: required, httpPutResponseHopLimit: 1} and blockDeviceMappings with "
        "ebs.encrypted true and kmsKeyID the stack key on the EC2NodeClass (the GpuNodePools component does).",
    ),
    Control(
        "log-encryption-retention",
        "Log groups encrypted with retention within the maximum",
        "CloudWatch log groups use a KMS key and a retention that is set and at most the configured maximum.",
        "medium",
        "mandatory",
        (GDPR_SECURITY, GDPR_STORAGE_LIMITATION, PDPL_SECURITY, CCPA_RETENTION),
        "Set kms_key_id to the stack key and retention_in_days to a value no larger than the policy's maximum.",
    ),
    Control(
        "vpn-crypto",
        "VPN tunnels use strong IKEv2 cryptography and log",
        "Both tunnels configured explicitly: IKEv2 only, no SHA1, no AES128-CBC, no DH group below 14, tunnel "
        "logging enabled.",
        "high",
        "mandatory",
        (GDPR_SECURITY, GDPR_TRANSFER, PDPL_SECURITY),
        "Configure tunnel1_* and tunnel2_* options: ike_versions ['ikev2'], AES256-GCM-16, SHA2-256/384, DH 19-21, "
        "and a CloudWatch log group per tunnel.",
    ),
    Control(
        "no-open-inference-ingress",
        "No internet ingress to inference ports",
        "No security group admits 0.0.0.0/0 or ::/0 to inference ports, and every group that admits anything to "
        "them is used by a resource of the stack (a load balancer, instance, launch template, network interface, "
        "endpoint or cluster): a group attached to nothing restricts nothing.",
        "critical",
        "mandatory",
        (GDPR_SECURITY, PDPL_SECURITY, CCPA_SECURITY),
        "Admit only the on-prem CIDRs and the VPC CIDR; reach inference through the VPN or a private load balancer, "
        "and attach the group where the traffic lands (an NLB takes its groups only at creation) or delete it.",
    ),
    Control(
        "k8s-pod-security",
        "Inference pods meet Pod Security 'restricted', limit GPUs, pull from allowed registries",
        "Inference pods run as non-root without privilege escalation, drop all capabilities, use seccomp "
        "RuntimeDefault and a read-only root filesystem; GPU containers set nvidia.com/gpu limits; images come "
        "from allowlisted registries.",
        "high",
        "mandatory",
        (GDPR_SECURITY, GDPR_BY_DESIGN, PDPL_SECURITY),
        "Use the InferenceService component, or set the restricted securityContext, GPU limits and an allowed image.",
    ),
    Control(
        "namespace-default-deny",
        "Every namespace has a default-deny NetworkPolicy",
        "Each namespace a stack creates has a NetworkPolicy selecting all pods with no allow rules.",
        "medium",
        "mandatory",
        (GDPR_SECURITY, GDPR_BY_DESIGN, PDPL_SECURITY),
        "Add a NetworkPolicy with podSelector {} and policyTypes [Ingress, Egress] to the namespace.",
    ),
    Control(
        "stack-single-jurisdiction",
        "A stack stays in one jurisdiction",
        "Every resource of a stack carries the same data-residency jurisdiction.",
        "critical",
        "mandatory",
        (GDPR_TRANSFER, PDPL_TRANSFER),
        "Split resources of another jurisdiction into that jurisdiction's stack.",
    ),
    Control(
        "restricted-model-isolated",
        "Restricted models are unreachable from AWS",
        "On-prem, no NetworkPolicy of a restricted-data workload admits every source, an AWS VPC CIDR, the VPN "
        "inside ranges or anything outside the on-prem networks (the site's public front-door entry may admit the "
        "internet, never an AWS range), and no Service of one is exposed beyond the cluster without keeping the "
        "caller's address (externalTrafficPolicy Local) or with load-balancer source ranges reaching AWS; on AWS, no "
        "route sends a region's traffic to another AWS site's VPC.",
        "critical",
        "mandatory",
        (GDPR_TRANSFER, GDPR_BY_DESIGN, PDPL_TRANSFER),
        "Remove the AWS or open source from the restricted model's NetworkPolicy and Service (expose it with "
        "exposure.onprem only), set externalTrafficPolicy: Local on an exposed Service, and drop any route toward "
        "another region's VPC (regions reach only on-prem).",
    ),
    Control(
        "scaledobject-gpu-quota",
        "Autoscaling stays within the namespace's GPU quota",
        "Every KEDA ScaledObject's maxReplicaCount times the GPUs one replica of its Deployment requests, summed over "
        "the namespace, fits the namespace's ResourceQuota requests.nvidia.com/gpu.",
        "medium",
        "mandatory",
        (GDPR_SECURITY, PDPL_SECURITY),
        "Lower autoscaling.maxReplicas (or the model's gpus), or raise the namespace's GPU quota "
        "(kubernetes.quotas.<namespace>.gpus).",
    ),
    Control(
        "metrics-remote-write-in-jurisdiction",
        "Metrics are written remotely only inside the jurisdiction",
        "A Prometheus (kube-prometheus-stack values or a Prometheus/PrometheusAgent resource) remote-writes only to "
        "receivers in the stack's jurisdiction: an AWS regional endpoint of one of its regions, or a receiver "
        "declared with that jurisdiction.",
        "critical",
        "mandatory",
        (GDPR_TRANSFER, PDPL_TRANSFER),
        "Remove the remote-write URL, or point it at a receiver in the stack's jurisdiction and declare it under "
        "metrics.remoteWrite with its jurisdiction and region.",
    ),
    Control(
        "front-door-stays-in-jurisdiction",
        "A jurisdiction's public hostname answers only with sites of that jurisdiction",
        "Every target of a Route 53 record of the stack's public hostnames (alias NLB zone, address or name), every "
        "health check, every Global Accelerator endpoint group and every CloudFront origin lies in the stack's "
        "jurisdiction; failover records come as one primary and one secondary, each with a health check; no "
        "wildcard, geolocation (whose default answers any location), latency, geoproximity, weighted or "
        "multivalue record, and no alias to a CloudFront distribution or a Global Accelerator, whose answers are "
        "not tied to one jurisdiction.",
        "critical",
        "mandatory",
        (GDPR_TRANSFER, GDPR_BY_DESIGN, PDPL_TRANSFER),
        "Point the hostname only at this jurisdiction's region (its NLB alias zone) and, as the failover "
        "secondary, at this jurisdiction's on-prem site (declared in frontDoor.secondary); give each failover "
        "record its health check and its partner; delete wildcard, geolocation, latency and other catch-all "
        "records, accelerators and distributions that reach another jurisdiction.",
    ),
    Control(
        "policy-exemption",
        "Exempted violations are recorded with reason and expiry",
        "A resource may waive one control with a dated, reasoned exemption (AWS tag policy-exemption:<control>, "
        "Kubernetes annotation policy-exemption.hybrid-llm-infra.io/<control>, value 'YYYY-MM-DD <reason>'); every "
        "violation it waives is reported here, at advisory level, until the date passes.",
        "low",
        "advisory",
        (GDPR_RECORDS, PDPL_PRINCIPLES),
        "Fix the waived violation before the exemption's date, then remove the tag or annotation; an expired "
        "exemption waives nothing.",
    ),
    Control(
        "vpn-tunnel-up",
        "VPN tunnels are up",
        "Both tunnels of every VPN connection report status UP (live audit only).",
        "medium",
        "advisory",
        (GDPR_SECURITY, PDPL_SECURITY),
        "Check the on-prem gateway (strongSwan) logs and the tunnel's CloudWatch log group; restart the peer.",
    ),
)

CONTROLS: Mapping[str, Control] = MappingProxyType({c.id: c for c in _CONTROLS})


def control(control_id: str) -> Control:
    try:
        return CONTROLS[control_id]
    except KeyError:
        raise KeyError(f"unknown control {control_id!r}; known: {', '.join(CONTROLS)}") from None
