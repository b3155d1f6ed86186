"""Every KEDA trigger query of the shipped stacks runs under the real ``promtool`` (Debian package ``prometheus``).

Each query becomes a recording rule in a generated rule file (``promtool check rules``), and ``promtool test rules``
feeds it series written as Prometheus stores vLLM 0.11's gauge after scraping two replicas of the model
(``vllm:num_requests_waiting`` with vLLM's labels ``model_name`` and ``engine``, plus the target labels the
PodMonitor adds) next to another model's series: the query must return exactly the model's summed queue, the value
KEDA divides by the threshold, and nothing at all when only other models' series exist (with
``ignoreNullValues: "false"`` KEDA then reports an error and holds the fallback instead of reading 0).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.model_scaling import QUEUE_METRIC, promql_string, queue_query
from tests.oracles import require_tool
from tests.stack_runs import shipped_runs

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
# Replica queues at each minute (values of the series), and what the trigger must return at 2m.
REPLICA_QUEUES = {"a": "0 3 5", "b": "1 4 6"}
EXPECTED_AT_2M = 11


def promtool() -> str:
    return require_tool("promtool", "prometheus")


def triggers() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(stack, ScaledObject name, served model name, trigger) of every prometheus trigger of the shipped stacks."""
    found = []
    for stack, run in sorted(shipped_runs().items()):
        deployments = {
            r.inputs["metadata"]["name"]: r for r in run.resources if r.type == "kubernetes:apps/v1:Deployment"
        }
        for resource in run.resources:
            if resource.type != SCALED_OBJECT:
                continue
            spec = resource.inputs["spec"]
            args = deployments[spec["scaleTargetRef"]["name"]].inputs["spec"]["template"]["spec"]["containers"][0][
                "args"
            ]
            served = args[args.index("--served-model-name") + 1]
            for trigger in spec["triggers"]:
                assert trigger["type"] == "prometheus", f"{resource.urn}: unexpected trigger {trigger['type']}"
                found.append((stack, resource.inputs["metadata"]["name"], served, trigger))
    return found


def record_name(stack: str, name: str) -> str:
    return "keda_trigger:" + re.sub(r"[^a-zA-Z0-9_]", "_", f"{stack}_{name}") + ":queue"


def series(model_name: str, replica: str) -> str:
    labels = {
        "model_name": model_name,
        "engine": "0",
        "namespace": "inference",
        "pod": f"vllm-{replica}",
        "job": "inference/vllm",
        "container": "vllm",
    }
    body = ",".join(f"{key}={promql_string(value)}" for key, value in labels.items())
    return f"{QUEUE_METRIC}{{{body}}}"


def write_files(tmp_path: Path, expected: int = EXPECTED_AT_2M) -> tuple[Path, Path]:
    cases = triggers()
    assert cases, "the shipped stacks register no ScaledObject"
    rules = {
        "groups": [
            {
                "name": "keda-triggers",
                "rules": [{"record": record_name(s, n), "expr": t["metadata"]["query"]} for s, n, _, t in cases],
            }
        ]
    }
    rule_file = tmp_path / "keda-triggers.rules.yaml"
    rule_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    tests = []
    for stack, name, served, trigger in cases:
        query = trigger["metadata"]["query"]
        other = served + "-other"
        tests.append(
            {
                "interval": "1m",
                "input_series": [
                    *({"series": series(served, r), "values": v} for r, v in REPLICA_QUEUES.items()),
                    {"series": series(other, "c"), "values": "100 100 100"},
                ],
                "promql_expr_test": [
                    {"expr": query, "eval_time": "2m", "exp_samples": [{"labels": "{}", "value": expected}]},
                    {
                        "expr": record_name(stack, name),
                        "eval_time": "2m",
                        "exp_samples": [{"labels": record_name(stack, name), "value": expected}],
                    },
                ],
            }
        )
        # Only other models' series (a wrong model_name): no sample at all.
        tests.append(
            {
                "interval": "1m",
                "input_series": [{"series": series(other, "c"), "values": "7 7 7"}],
                "promql_expr_test": [{"expr": query, "eval_time": "2m", "exp_samples": []}],
            }
        )
    test_file = tmp_path / "keda-triggers.test.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [rule_file.name], "tests": tests}, sort_keys=False))
    return rule_file, test_file


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *argv], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_every_model_has_one_trigger_on_its_own_queue() -> None:
    for stack, name, served, trigger in triggers():
        assert trigger["metadata"]["query"] == queue_query(served), (stack, name)
        assert float(trigger["metadata"]["threshold"]) > 0
        assert trigger["metadata"]["ignoreNullValues"] == "false"


def test_trigger_queries_pass_promtool_check_rules(tmp_path: Path) -> None:
    rule_file, _ = write_files(tmp_path)
    result = run("check", "rules", rule_file.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(triggers())} rules found" in result.stdout


def test_trigger_queries_return_the_models_queue_and_nothing_for_other_models(tmp_path: Path) -> None:
    _, test_file = write_files(tmp_path)
    result = run("test", "rules", test_file.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_fails_a_wrong_expectation(tmp_path: Path) -> None:
    """The harness can fail: the same files expecting another value are refused."""
    _, test_file = write_files(tmp_path, expected=EXPECTED_AT_2M + 1)
    result = run("test", "rules", test_file.name, cwd=tmp_path)
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


def test_promtool_refuses_a_broken_query(tmp_path: Path) -> None:
    rule_file = tmp_path / "broken.rules.yaml"
    rule_file.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "g", "rules": [{"record": "x:y", "expr": "sum(vllm:num_requests_waiting{"}]}]}
        )
    )
    assert run("check", "rules", rule_file.name, cwd=tmp_path).returncode != 0


@pytest.mark.parametrize("name", ["meta-llama/Llama-3.1-8B-Instruct", 'we"ird\\name'])
def test_query_quotes_any_served_model_name(tmp_path: Path, name: str) -> None:
    """A served model name with quotes or backslashes still selects exactly that model."""
    query = queue_query(name)
    tests = {
        "rule_files": [],
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series(name, "a"), "values": "2 2 2"},
                    {"series": series(name + "x", "b"), "values": "5 5 5"},
                ],
                "promql_expr_test": [{"expr": query, "eval_time": "1m", "exp_samples": [{"labels": "{}", "value": 2}]}],
            }
        ],
    }
    test_file = tmp_path / "quote.test.yaml"
    test_file.write_text(yaml.safe_dump(tests))
    result = run("test", "rules", test_file.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
