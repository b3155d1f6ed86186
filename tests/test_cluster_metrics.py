"""What the shipped stacks register for metrics and autoscaling: encrypted Prometheus storage (EBS CSI add-on via
Pod Identity, KMS grants, gp3 class with the stack key), kube-prometheus-stack and KEDA values, their namespaces
and NetworkPolicies, GPU telemetry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.mocks import CapturedResource
from infra.project import load_project
from stackconfig import parse_stack_config
from tests.stack_runs import ROOT, shipped_runs

RELEASE = "kubernetes:helm.sh/v3:Release"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
AWS_STACKS = ["frankfurt", "dubai"]
ALL_STACKS = [*AWS_STACKS, "onprem"]


def of_type(stack: str, type_token: str) -> list[CapturedResource]:
    return [r for r in shipped_runs()[stack].resources if r.type == type_token]


def release(stack: str, chart: str) -> CapturedResource:
    (found,) = [r for r in of_type(stack, RELEASE) if r.inputs["chart"].rsplit("/", 1)[-1] == chart]
    return found


def by_urn(stack: str, urn: str) -> CapturedResource:
    (found,) = [r for r in shipped_runs()[stack].resources if r.urn == urn]
    return found


def policies(stack: str, namespace: str) -> dict[str, dict[str, Any]]:
    return {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in of_type(stack, NETPOL)
        if r.inputs["metadata"]["namespace"] == namespace
    }


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_ebs_csi_addon_uses_pod_identity_and_may_use_the_stack_key(stack: str) -> None:
    run = shipped_runs()[stack]
    key_arn = run.outputs["kmsKeyArn"]
    (addon,) = [r for r in of_type(stack, "aws:eks/addon:Addon") if r.inputs["addonName"] == "aws-ebs-csi-driver"]
    assert addon.inputs["addonVersion"] == "v1.49.0-eksbuild.1"
    (association,) = addon.inputs["podIdentityAssociations"]
    assert association["serviceAccount"] == "ebs-csi-controller-sa"
    (role,) = [r for r in of_type(stack, "aws:iam/role:Role") if r.name.endswith("-ebs-role")]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    attachments = [
        r
        for r in of_type(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.endswith("-ebs-managed-policy")
    ]
    assert [a.inputs["policyArn"] for a in attachments] == [
        "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    ]
    (kms,) = [r for r in of_type(stack, "aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-ebs-kms")]
    statements = {s["Sid"]: s for s in json.loads(kms.inputs["policy"])["Statement"]}
    assert statements["GrantsForEbsOnly"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert all(s["Resource"] == [key_arn] for s in statements.values())
    (storage_class,) = of_type(stack, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage_class.inputs["provisioner"] == "ebs.csi.aws.com"
    assert storage_class.inputs["parameters"] == {"type": "gp3", "encrypted": "true", "kmsKeyId": key_arn}
    assert addon.urn in storage_class.dependencies


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_prometheus_keeps_bounded_encrypted_in_cluster_storage(stack: str) -> None:
    kps = release(stack, "kube-prometheus-stack")
    assert kps.inputs["version"] == "77.5.0"
    spec = kps.inputs["values"]["prometheus"]["prometheusSpec"]
    assert (spec["retention"], spec["retentionSize"]) == ("15d", "40GB")
    assert spec["remoteWrite"] == []
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    if stack == "onprem":
        assert claim["storageClassName"] == "encrypted-ssd"
    else:
        assert claim["storageClassName"] == "gp3-encrypted"
        (storage_class,) = of_type(stack, "kubernetes:storage.k8s.io/v1:StorageClass")
        assert storage_class.urn in kps.dependencies
        for path in (("prometheus", "prometheusSpec"), ("alertmanager", "alertmanagerSpec"), ("prometheusOperator",)):
            values = kps.inputs["values"]
            for part in path:
                values = values[part]
            assert values["nodeSelector"] == {"hybrid-llm-infra/node-pool": "system"}, path
        assert release(stack, "keda").inputs["values"]["nodeSelector"] == {"hybrid-llm-infra/node-pool": "system"}
    for selector in ("podMonitorSelectorNilUsesHelmValues", "serviceMonitorSelectorNilUsesHelmValues"):
        assert spec[selector] is False


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_monitoring_and_keda_namespaces_are_pod_security_labelled_and_default_deny(stack: str) -> None:
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"] for r in of_type(stack, NAMESPACE)}
    for name in ("monitoring", "keda"):
        assert namespaces[name]["pod-security.kubernetes.io/enforce"] == "baseline"
        assert namespaces[name]["pod-security.kubernetes.io/warn"] == "restricted"
        deny = policies(stack, name)["default-deny-ingress"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    (rule,) = policies(stack, "monitoring")["keda-queries-prometheus"]["ingress"]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
            "podSelector": {"matchLabels": {"app": "keda-operator"}},
        }
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 9090}]


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_keda_admits_the_api_server_only_from_the_cluster_networks(stack: str) -> None:
    keda = policies(stack, "keda")
    config = parse_stack_config(load_project(ROOT).stack(stack).config)
    plan = config.address_plan
    expected = plan.onprem.cidrs if stack == "onprem" else [plan.aws_sites[stack].vpc_cidr]
    for name, port in (("metrics-apiserver", 6443), ("admission-webhooks", 9443)):
        (rule,) = keda[name]["ingress"]
        assert [peer["ipBlock"]["cidr"] for peer in rule["from"]] == expected, name
        assert rule["ports"] == [{"protocol": "TCP", "port": port}]
    (grpc,) = keda["operator-grpc"]["ingress"]
    assert grpc["from"] == [{"podSelector": {"matchLabels": {"app": "keda-operator-metrics-apiserver"}}}]


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_gpu_telemetry_is_scraped_on_9400_only(stack: str) -> None:
    if stack == "onprem":
        operator = release(stack, "gpu-operator")
        assert operator.inputs["values"]["dcgmExporter"]["serviceMonitor"] == {"enabled": True}
        assert release(stack, "kube-prometheus-stack").urn in operator.dependencies
        namespace, pods = "gpu-operator", {"app": "nvidia-dcgm-exporter"}
    else:
        exporter = release(stack, "dcgm-exporter")
        assert exporter.inputs["values"]["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
        ]
        assert exporter.inputs["values"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert release(stack, "kube-prometheus-stack").urn in exporter.dependencies
        namespace, pods = "gpu-telemetry", {"app.kubernetes.io/name": "dcgm-exporter"}
    (spec,) = [s for n, s in policies(stack, namespace).items() if n.endswith("-from-prometheus")]
    assert spec["podSelector"] == {"matchLabels": pods}
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 9400}]
    assert rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "prometheus"
