"""A synthetic probe per model on every cluster: the blackbox module posts a one-token completion to the model's
in-cluster Service, the Probe points Prometheus at it, and the model admits the prober on its API port only."""

from __future__ import annotations

import json

import pytest

from components.synthetic_probes import POD_LABELS, PROBER_PORT, RELEASE
from tests.stack_runs import shipped_runs

PROBE = "kubernetes:monitoring.coreos.com/v1:Probe"


@pytest.mark.parametrize("stack", ["frankfurt", "dubai", "onprem"])
def test_one_probe_per_model_measuring_its_first_token(stack: str) -> None:
    resources = shipped_runs()[stack].resources
    (release,) = [
        r
        for r in resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("chart") == "prometheus-blackbox-exporter"
    ]
    assert release.inputs["version"] == "11.4.0" and release.inputs["name"] == RELEASE
    modules = release.inputs["values"]["config"]["modules"]
    assert release.inputs["values"]["pod"]["labels"].items() >= POD_LABELS.items()
    deployments = {
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r
        for r in resources
        if r.type == "kubernetes:apps/v1:Deployment"
        and r.inputs["metadata"]["labels"].get("app.kubernetes.io/component") == "inference"
    }
    services = {
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"])
        for r in resources
        if r.type == "kubernetes:core/v1:Service"
    }
    probes = [r for r in resources if r.type == PROBE]
    assert deployments and len(probes) == len(deployments)
    metrics_ns = release.inputs["namespace"]
    for probe in probes:
        spec = probe.inputs["spec"]
        (url,) = spec["targets"]["staticConfig"]["static"]
        host, _, path = url.removeprefix("http://").partition("/")
        service, namespace = host.split(".")[:2]
        assert (namespace, service) in services and (namespace, service) in deployments
        assert host.endswith(".svc.cluster.local:8000") and path == "v1/completions"
        args = deployments[(namespace, service)].inputs["spec"]["template"]["spec"]["containers"][0]["args"]
        served = args[args.index("--served-model-name") + 1]
        assert spec["targets"]["staticConfig"]["labels"] == {"model_name": served}
        module = modules[spec["module"]]
        assert module["prober"] == "http" and module["http"]["method"] == "POST"
        assert json.loads(module["http"]["body"]) == {
            "model": served,
            "prompt": "Reply with one word: ok",
            "max_tokens": 1,
        }
        # Prometheus must wait at least as long as the module does.
        assert int(spec["scrapeTimeout"].rstrip("s")) > int(module["timeout"].rstrip("s"))
        assert spec["prober"] == {"url": f"{RELEASE}.{metrics_ns}.svc:{PROBER_PORT}", "path": "/probe"}
        assert release.urn in probe.dependencies
        # The model admits the prober's pods from the metrics namespace, on its API port only.
        (policy,) = [
            r
            for r in resources
            if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
            and r.inputs["metadata"]["name"] == f"{service}-synthetic-probe"
        ]
        assert policy.inputs["metadata"]["namespace"] == namespace
        (rule,) = policy.inputs["spec"]["ingress"]
        (peer,) = rule["from"]
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": metrics_ns}
        assert peer["podSelector"]["matchLabels"] == POD_LABELS
        assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
        assert policy.inputs["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == service
