"""The inventory of a checked stack, as ``infra check --format json`` prints it (secrets redacted)."""

from __future__ import annotations

from typing import Any

from infra.engine import SECRET, StackRun, redact
from infra.fingerprint import output_fingerprint_fields, resource_fingerprint_fields


def stack_inventory(run: StackRun) -> dict[str, Any]:
    return {
        "stack": run.stack,
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "id": r.id,
                "parent": r.parent,
                "provider": r.provider,
                "inputs": redact(r.inputs),
                **resource_fingerprint_fields(r.inputs),
            }
            for r in sorted(run.resources, key=lambda r: r.urn)
        ],
        "outputs": {k: SECRET if k in run.secret_outputs else redact(v) for k, v in sorted(run.outputs.items())},
        **output_fingerprint_fields(run.outputs, run.secret_outputs),
        "problems": list(run.problems) + ([f"program crashed: {run.crash}"] if run.crash else []),
    }


def inventory(runs: list[StackRun]) -> dict[str, Any]:
    return {"stacks": [stack_inventory(run) for run in runs]}
