"""Bad metrics/autoscaling input stops the program before any resource, with one line naming the key path."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.engine import StackRun, run_stack
from infra.project import load_project
from stackconfig import parse_stack_config
from tests.stack_runs import ROOT

PROJECT = load_project(ROOT)
P = "hybrid-llm-infra"


def run_with(stack: str, key: str, change: Callable[[Any], Any]) -> StackRun:
    base = PROJECT.stack(stack)
    config = dict(base.config)
    full = f"{P}:{key}"
    value = json.loads(config[full]) if full in config else {}
    change(value)
    config[full] = json.dumps(value)
    return run_stack(PROJECT, dataclasses.replace(base, config=config))


def aws_model(**autoscaling: Any) -> Callable[[Any], Any]:
    return lambda models: models[0].update(autoscaling=autoscaling)


def onprem_model(index: int = 0, **fields: Any) -> Callable[[Any], Any]:
    return lambda kube: kube["models"][index].update(fields)


CASES = [
    (
        "frankfurt",
        "inference",
        aws_model(minReplicas=3, maxReplicas=2),
        f"{P}:inference[0].autoscaling: minReplicas (3) must be <= maxReplicas (2)",
    ),
    (
        "frankfurt",
        "inference",
        aws_model(queueThreshold=0),
        f"{P}:inference[0].autoscaling.queueThreshold: must be > 0",
    ),
    ("dubai", "inference", aws_model(queueThreshold=-1.5), f"{P}:inference[0].autoscaling.queueThreshold: must be > 0"),
    (
        "frankfurt",
        "inference",
        aws_model(minReplicas=0),
        f"{P}:inference[0].autoscaling.minReplicas: 0 (scale to zero) needs an activation signal",
    ),
    (
        "onprem",
        "kubernetes",
        onprem_model(autoscaling={"minReplicas": 0, "maxReplicas": 2}),
        f"{P}:kubernetes.models[0].autoscaling.minReplicas: 0 (scale to zero) needs an activation signal",
    ),
    (
        "onprem",
        "kubernetes",
        onprem_model(autoscaling={"cooldownSeconds": 600}),
        f"{P}:kubernetes.models[0]: autoscaling.cooldownSeconds (600) is shorter than startupTimeoutSeconds (1800)",
    ),
    (
        "onprem",
        "kubernetes",
        onprem_model(startupTimeoutSeconds=5400),
        f"{P}:kubernetes.models[0]: startupTimeoutSeconds (5400) is longer than the 3600 s",
    ),
    (
        "onprem",
        "kubernetes",
        onprem_model(startupTimeoutSeconds=5400, autoscaling={"cooldownSeconds": 5400}),
        f"{P}:kubernetes.models[0].autoscaling.cooldownSeconds: ",
    ),
    (
        "frankfurt",
        "inference",
        aws_model(fallbackReplicas=5, maxReplicas=2),
        f"{P}:inference[0].autoscaling: fallbackReplicas (5) must lie in minReplicas..maxReplicas",
    ),
    ("onprem", "metrics", lambda m: m.update(retentionTime="0d"), f"{P}:metrics.retentionTime: must be a positive"),
    ("onprem", "metrics", lambda m: m.update(retentionTime="0"), f"{P}:metrics.retentionTime: must be a positive"),
    ("frankfurt", "metrics", lambda m: m.update(retentionSize="0GB"), f"{P}:metrics.retentionSize: must be a positive"),
    ("frankfurt", "metrics", lambda m: m.update(retentionTime=None), f"{P}:metrics.retentionTime: "),
    ("dubai", "metrics", lambda m: m.update(retentionSize=None), f"{P}:metrics.retentionSize: "),
    (
        "frankfurt",
        "metrics",
        lambda m: m.update(retentionSize="60GB"),
        f"{P}:metrics.retentionSize: 60GB does not fit the 50Gi volume",
    ),
    (
        "frankfurt",
        "metrics",
        lambda m: m.update(remoteWrite=[{"url": "https://metrics.example.ae/api/v1/write", "jurisdiction": "UAE"}]),
        f"{P}:metrics.remoteWrite[0].jurisdiction: https://metrics.example.ae/api/v1/write stores samples in UAE",
    ),
    (
        "dubai",
        "metrics",
        lambda m: m.update(
            remoteWrite=[
                {
                    "url": "https://aps-workspaces.eu-west-1.amazonaws.com/x",
                    "jurisdiction": "UAE",
                    "region": "eu-west-1",
                }
            ]
        ),
        f"{P}:metrics.remoteWrite[0].region: eu-west-1 is outside UAE",
    ),
    (
        "onprem",
        "metrics",
        lambda m: m.pop("storageClass"),
        f"{P}:metrics.storageClass: required on-prem",
    ),
    (
        "onprem",
        "metrics",
        lambda m: m.update(namespace="inference"),
        f"{P}:metrics.namespace: 'inference' is already used by {P}:kubernetes.namespaces",
    ),
    (
        "frankfurt",
        "keda",
        lambda k: k.update(namespace="monitoring"),
        f"{P}:keda.namespace: 'monitoring' is already used by {P}:metrics.namespace",
    ),
    (
        "frankfurt",
        "metrics",
        lambda m: m.update(storageClass="standard"),
        f"{P}:metrics.storageClass: not allowed on AWS",
    ),
]


@pytest.mark.parametrize(("stack", "key", "change", "expected"), CASES)
def test_bad_metrics_or_autoscaling_input_stops_before_any_resource(
    stack: str, key: str, change: Callable[[Any], Any], expected: str
) -> None:
    run = run_with(stack, key, change)
    assert run.crash is None, run.crash
    assert len(run.problems) == 1, run.problems
    assert run.problems[0].startswith(expected), run.problems
    assert run.resources == []


def test_remote_write_inside_the_jurisdiction_is_accepted() -> None:
    config = dict(PROJECT.stack("frankfurt").config)
    url = "https://aps-workspaces.eu-central-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
    config[f"{P}:metrics"] = json.dumps({"remoteWrite": [{"url": url, "jurisdiction": "EU", "region": "eu-central-1"}]})
    parsed = parse_stack_config(config)
    assert [e.url for e in parsed.metrics.remote_write] == [url]


def test_defaults_bound_retention_in_time_and_size() -> None:
    parsed = parse_stack_config(dict(PROJECT.stack("dubai").config))
    assert parsed.metrics.retention_time == "15d" and parsed.metrics.retention_size == "40GB"
    assert parsed.metrics.retention_bytes() < parsed.metrics.storage_bytes()
