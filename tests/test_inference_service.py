"""InferenceService under Pulumi's mock engine: one component that serves a model on any cluster."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.inference_service import (
    InferenceService,
    InferenceServiceArgs,
    ObjectStoreModel,
    PvcModel,
    RegistryModel,
)
from components.model_scaling import Scraper
from residency.pod_security import hardening_violations, restricted_violations

LABELS = {
    "data-residency": "eu",
    "data-classification": "restricted",
    "owner": "ml-platform",
    "cost-center": "cc-4710",
    "environment": "production",
}


def _service(model: Any = None, **overrides: Any) -> InferenceService:
    provider = k8s.Provider("cluster", context="ctx")
    fields: dict[str, Any] = {
        "namespace": "inference",
        "served_model_name": "llama-3.1-8b",
        "model": model or PvcModel(claim_name="llama-weights", sub_path="llama-3.1-8b"),
        "client_namespaces": ["api-gateway"],
        "labels": LABELS,
    }
    args = InferenceServiceArgs(**{**fields, **overrides})
    return InferenceService("llama", args, pulumi.ResourceOptions(provider=provider))


def _pod(mock_stack: Any) -> dict[str, Any]:
    deployment = mock_stack.named("kubernetes:apps/v1:Deployment", "llama")
    return deployment.inputs["spec"]["template"]["spec"]


def test_every_object_is_labelled_uses_the_given_provider_and_lives_in_the_namespace(mock_stack) -> None:
    service = _service()
    mock_stack.settle()
    objects = [r for r in mock_stack.capture.resources.values() if r.type.startswith("kubernetes:")]
    assert sorted(r.type for r in objects) == [
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:policy/v1:PodDisruptionBudget",
    ]
    for obj in objects:
        assert obj.inputs["metadata"]["labels"].items() >= LABELS.items(), obj.urn
        assert obj.inputs["metadata"]["namespace"] == "inference"
        assert obj.provider and obj.provider.endswith("::cluster"), obj.urn
        assert obj.parent and obj.parent.endswith("InferenceService::llama"), obj.urn
    pod_labels = mock_stack.named("kubernetes:apps/v1:Deployment", "llama").inputs["spec"]["template"]["metadata"]
    assert pod_labels["labels"].items() >= LABELS.items()
    assert mock_stack.resolve(service.endpoint) == "http://llama.inference.svc.cluster.local:8000/v1"


def test_pod_gets_gpus_toleration_affinity_shm_and_probes(mock_stack) -> None:
    _service(gpus=2, priority_class_name="inference-critical")
    pod = _pod(mock_stack)
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]}]
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "shm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 1800
    assert "--tensor-parallel-size" in container["args"]
    assert container["args"][container["args"].index("--tensor-parallel-size") + 1] == "2"
    assert pod["priorityClassName"] == "inference-critical"
    assert pod["enableServiceLinks"] is False  # a Service named vllm would inject VLLM_PORT and break vLLM


def test_pod_meets_pod_security_restricted_with_a_read_only_root(mock_stack) -> None:
    _service(model=RegistryModel(image="registry.example.com/models/llama:3.1", pull_secret="registry-pull"))
    pod = _pod(mock_stack)
    assert restricted_violations(pod) == []
    assert hardening_violations(pod) == []
    (container,) = pod["containers"]
    assert container["securityContext"]["runAsUser"] == 10001
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/dev/shm", "/tmp", "/cache"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert all("emptyDir" in volumes[m["name"]] for m in container["volumeMounts"] if not m.get("readOnly"))
    account = mock_stack.named("kubernetes:core/v1:ServiceAccount", "llama-sa")
    assert account.inputs["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "llama"


def test_registry_source_pulls_with_the_secret_and_copies_into_an_empty_dir(mock_stack) -> None:
    _service(model=RegistryModel(image="registry.example.com/models/llama:3.1", pull_secret="registry-pull"))
    pod = _pod(mock_stack)
    assert pod["imagePullSecrets"] == [{"name": "registry-pull"}]
    (init,) = pod["initContainers"]
    assert init["image"] == "registry.example.com/models/llama:3.1"
    assert init["command"] == ["cp", "-R", "/model/.", "/models/"]
    assert pod["containers"][0]["args"][:2] == ["--model", "/models"]
    # The copier runs as the same uid without a passwd entry: it is told who it is and HOME is writable.
    env = {e["name"]: e["value"] for e in init["env"]}
    assert env == {"USER": "vllm", "LOGNAME": "vllm", "HOME": "/cache"}
    assert {"name": "cache", "mountPath": "/cache"} in init["volumeMounts"]


def test_the_component_default_image_is_the_config_default_pinned_by_digest() -> None:
    from components.inference_service import DEFAULT_IMAGE
    from stackconfig.inference import DEFAULT_VLLM_IMAGE, has_digest

    assert DEFAULT_IMAGE == DEFAULT_VLLM_IMAGE
    assert DEFAULT_IMAGE.startswith("vllm/vllm-openai:v0.11.0@sha256:") and has_digest(DEFAULT_IMAGE)


def test_pvc_source_mounts_the_claim_read_only(mock_stack) -> None:
    _service()
    pod = _pod(mock_stack)
    model = next(v for v in pod["volumes"] if v["name"] == "model")
    assert model["persistentVolumeClaim"] == {"claimName": "llama-weights", "readOnly": True}
    assert pod["containers"][0]["args"][:2] == ["--model", "/models/llama-3.1-8b"]
    assert "initContainers" not in pod and "imagePullSecrets" not in pod


def test_object_store_source_streams_from_the_endpoint_with_credentials(mock_stack) -> None:
    _service(
        model=ObjectStoreModel(
            uri="s3://models/llama-3.1-8b", endpoint="https://s3.onprem.example", credentials_secret="s3-creds"
        ),
        egress=[("10.10.5.0/24", 443)],
    )
    pod = _pod(mock_stack)
    (container,) = pod["containers"]
    args = container["args"]
    assert args[:2] == ["--model", "s3://models/llama-3.1-8b"]
    assert args[args.index("--load-format") + 1] == "runai_streamer"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AWS_ENDPOINT_URL"] == "https://s3.onprem.example"
    # The credentials are a read-only file (only the Secret's 'credentials' key), named by the SDKs' variable.
    assert "envFrom" not in container
    assert not [e for e in container["env"] if "valueFrom" in e]
    volume = next(v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "s3-creds")
    assert volume["secret"]["items"] == [{"key": "credentials", "path": "credentials"}]
    assert volume["secret"]["optional"] is False
    mode = int(volume["secret"]["defaultMode"])
    assert mode & ~0o440 == 0, oct(mode)  # read-only, and nobody but owner (root) and group (fsGroup 10001)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == f"{mount['mountPath']}/credentials"
    assert pod["securityContext"]["fsGroup"] == 10001  # the group that may read the file
    policy = mock_stack.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llama-netpol")
    assert {
        "to": [{"ipBlock": {"cidr": "10.10.5.0/24"}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    } in policy.inputs["spec"]["egress"]


def test_network_policy_admits_only_the_client_namespaces(mock_stack) -> None:
    _service(client_namespaces=["api-gateway", "batch-clients"])
    policy = mock_stack.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llama-netpol").inputs["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = policy["ingress"]
    assert [peer["namespaceSelector"]["matchLabels"] for peer in rule["from"]] == [
        {"kubernetes.io/metadata.name": "api-gateway"},
        {"kubernetes.io/metadata.name": "batch-clients"},
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "llama"


SCRAPER = Scraper(
    namespace="monitoring",
    pod_labels={"app.kubernetes.io/name": "prometheus"},
    query_url="http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090",
)


def test_without_a_scraper_the_deployment_runs_min_replicas(mock_stack) -> None:
    _service(min_replicas=2, max_replicas=4)
    service = mock_stack.named("kubernetes:core/v1:Service", "llama-svc").inputs["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]
    deployment = mock_stack.named("kubernetes:apps/v1:Deployment", "llama").inputs["spec"]
    assert deployment["replicas"] == 2
    assert mock_stack.of_type("kubernetes:keda.sh/v1alpha1:ScaledObject") == []
    pdb = mock_stack.named("kubernetes:policy/v1:PodDisruptionBudget", "llama-pdb").inputs["spec"]
    assert pdb["maxUnavailable"] == 1


def test_scaled_object_on_the_models_queue_replaces_the_hpa(mock_stack) -> None:
    _service(
        min_replicas=2,
        max_replicas=4,
        queue_threshold=2.5,
        fallback_replicas=3,
        startup_timeout_seconds=900,
        scraper=SCRAPER,
    )
    deployment = mock_stack.named("kubernetes:apps/v1:Deployment", "llama").inputs["spec"]
    assert "replicas" not in deployment  # KEDA's HPA owns the replica count
    spec = mock_stack.named("kubernetes:keda.sh/v1alpha1:ScaledObject", "llama-scaledobject").inputs["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llama"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 4)
    assert spec["fallback"] == {"failureThreshold": 3, "replicas": 3}
    # Cooldown defaults to the start-up time; scale-down stays one pod per 5 minutes.
    assert spec["cooldownPeriod"] == 900
    scale_down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert scale_down == {
        "stabilizationWindowSeconds": 900,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}],
    }
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"] == {
        "serverAddress": SCRAPER.query_url,
        "query": 'sum(vllm:num_requests_waiting{model_name="llama-3.1-8b"})',
        "threshold": "2.5",
        "ignoreNullValues": "false",
        "unsafeSsl": "false",
    }
    monitor = mock_stack.named("kubernetes:monitoring.coreos.com/v1:PodMonitor", "llama-podmonitor").inputs["spec"]
    assert monitor["podMetricsEndpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s", "scheme": "http"}]
    assert monitor["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "llama"


def test_only_prometheus_may_scrape_and_only_the_api_port(mock_stack) -> None:
    _service(scraper=SCRAPER)
    policy = mock_stack.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llama-netpol-metrics").inputs["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gpus": 0}, "gpus"),
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas"),
        ({"min_replicas": 0}, "min_replicas"),
        ({"cooldown_seconds": 600, "startup_timeout_seconds": 1800}, "cooldown_seconds"),
        ({"client_namespaces": []}, "client_namespaces"),
    ],
)
def test_args_reject_impossible_values(overrides: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "namespace": "inference",
        "served_model_name": "m",
        "model": PvcModel(claim_name="c"),
        "client_namespaces": ["gw"],
    }
    with pytest.raises(ValueError, match=message):
        InferenceServiceArgs(**{**base, **overrides})


def test_aws_object_store_model_signs_for_its_region_and_may_reach_s3_over_https(mock_stack) -> None:
    """On EKS the weights stream from S3, which no NetworkPolicy CIDR can name: HTTPS to public addresses only."""
    from components.inference_service import (
        PRIVATE_RANGES,
        InferenceService,
        InferenceServiceArgs,
        ObjectStoreModel,
    )

    InferenceService(
        "llm",
        InferenceServiceArgs(
            namespace="inference",
            served_model_name="m",
            model=ObjectStoreModel(
                uri="s3://b/m",
                endpoint="https://s3.me-central-1.amazonaws.com",
                region="me-central-1",
                public_https_egress=True,
            ),
            client_namespaces=["gateway"],
        ),
    )
    (deployment,) = mock_stack.of_type("kubernetes:apps/v1:Deployment")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "me-central-1"
    (policy,) = mock_stack.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    public = [r for r in policy.inputs["spec"]["egress"] if r["to"][0].get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
    assert len(public) == 1
    assert public[0]["to"][0]["ipBlock"]["except"] == list(PRIVATE_RANGES)
    assert public[0]["ports"] == [{"protocol": "TCP", "port": 443}]


def test_onprem_object_store_model_gets_no_public_egress(mock_stack) -> None:
    from components.inference_service import InferenceService, InferenceServiceArgs, ObjectStoreModel

    InferenceService(
        "llm",
        InferenceServiceArgs(
            namespace="inference",
            served_model_name="m",
            model=ObjectStoreModel(uri="s3://b/m", endpoint="https://minio.onprem:9000"),
            client_namespaces=["gateway"],
        ),
    )
    (policy,) = mock_stack.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert not [r for r in policy.inputs["spec"]["egress"] if r["to"][0].get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
