"""Run the ``data-residency`` pack over the stacks' mock runs exactly as ``pulumi preview --policy-pack`` would.

One pack process per ``infra check``: :class:`PackSession` launches ``python -u -m pulumi.policy <engine> .`` in
``policies/`` (through :class:`infra.analyzer.PolicyPackProcess`) *before* the program's imports are loaded, so
its boot overlaps them; :class:`StackChecks` finishes the boot on a thread once the stack workers are forked
and analyses each stack as soon as its run ends: ``Configure`` with that stack's policy config, ``Analyze``
every captured resource (inputs in wire form, secrets still wrapped, with its provider's inputs), and
``AnalyzeStack`` once.

The policy config of a stack comes from its validated config (``hybrid-llm-infra:deployment``):
``stackJurisdiction`` = its ``jurisdiction``; ``onpremJurisdiction`` = the on-prem stack's jurisdiction (the
stack itself when it is on-prem; EU when the project has none); ``defaultAwsRegion`` = ``aws:region``;
``today`` = ``$INFRA_POLICY_TODAY`` if set (tests), else the real date; ``onpremCidrs`` and ``awsCidrs`` = the
address plan's on-prem CIDRs and every AWS site's VPC and tunnel inside CIDRs.  Thresholds keep the schema defaults.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infra.analyzer import AnalyzedResource, Diagnostic, PolicyPackError, PolicyPackProcess, ProviderInfo
from infra.engine import StackRun
from infra.mocks import CapturedResource
from infra.report import Finding, Report, Scope
from residency.controls import CONTROLS
from residency.exemptions import parse_exempt_message

PACK_DIR = Path(__file__).resolve().parent.parent / "policies"
EXEMPTION_POLICY = "policy-exemption"
CONCURRENCY = 4


@dataclass
class StackPolicyResult:
    stack: str
    violations: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def mandatory(self) -> list[dict[str, Any]]:
        return [v for v in self.violations if v["enforcement"] == "mandatory" and not v["exempt"]]


class PackSession:
    """The pack process of one check: launched early, booted by whoever needs it first, closed once."""

    def __init__(self, pack_dir: Path = PACK_DIR) -> None:
        self.pack = PolicyPackProcess(pack_dir, call_timeout=300.0)
        self._boot_lock = threading.Lock()  # ready() and close() never overlap a boot in progress
        self._booted = False
        self._error: BaseException | None = None
        self._closer: threading.Thread | None = None

    def spawn(self) -> PackSession:
        """Launch the pack process now (no threads: the caller may still fork); :meth:`ready` finishes the boot."""
        self.pack.spawn()
        return self

    def ready(self) -> PolicyPackProcess:
        """The booted pack (booting it on the first call, in the caller's thread); re-raises a failed boot."""
        with self._boot_lock:
            if not self._booted:
                self._booted = True
                try:
                    self.pack.start()
                except BaseException as error:
                    self._error = error
        if self._error is not None:
            raise self._error
        return self.pack

    def begin_close(self) -> None:
        """Start :meth:`close` on a thread (the pack's shutdown takes a tenth of a second); ``close`` joins it."""
        if self._closer is None:
            self._closer = threading.Thread(target=self._close, name="policy-pack-close", daemon=True)
            self._closer.start()

    def close(self) -> None:
        if self._closer is None:
            self._close()
        else:
            self._closer.join()

    def _close(self) -> None:
        with self._boot_lock:
            self._booted = True  # nothing boots after the close
            self.pack.close()


def _config_object(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """An object-valued ``hybrid-llm-infra:<key>`` (the engine hands objects over as JSON text; it validated when
    the stack ran), or ``{}``."""
    value = config.get(f"hybrid-llm-infra:{key}")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _address_plan_cidrs(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """``onpremCidrs`` and ``awsCidrs`` from ``hybrid-llm-infra:addressPlan`` (validated when the stack ran)."""
    plan = _config_object(config, "addressPlan")
    if not plan:
        return {}
    onprem = plan.get("onprem") or {}
    aws_cidrs = [
        str(cidr)
        for site in (plan.get("awsSites") or {}).values()
        for cidr in [site.get("vpcCidr"), *(site.get("tunnelInsideCidrs") or [])]
        if cidr
    ]
    return {"onpremCidrs": [str(c) for c in onprem.get("cidrs") or []], "awsCidrs": aws_cidrs}


def _remote_write_jurisdictions(config: Mapping[str, Any]) -> dict[str, str]:
    """Host -> jurisdiction of the receivers ``hybrid-llm-infra:metrics.remoteWrite`` declares (validated already)."""
    out = {}
    for entry in _config_object(config, "metrics").get("remoteWrite") or []:
        host = urlsplit(str(entry.get("url") or "")).hostname
        if host and entry.get("jurisdiction"):
            out[host] = str(entry["jurisdiction"])
    return out


def _front_door_sites(config: Mapping[str, Any]) -> dict[str, str]:
    """Address -> jurisdiction of the on-prem entry ``hybrid-llm-infra:frontDoor.secondary`` declares (validated)."""
    secondary = _config_object(config, "frontDoor").get("secondary")
    if not isinstance(secondary, Mapping) or not secondary.get("address") or not secondary.get("jurisdiction"):
        return {}
    return {str(secondary["address"]): str(secondary["jurisdiction"])}


def stack_policy_values(
    stack_config: Mapping[str, Any], all_configs: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The common policy config of one stack (see the module docstring)."""
    deployment = _config_object(stack_config, "deployment")
    onprem = "EU"
    if deployment.get("kind") == "onprem" and deployment.get("jurisdiction"):
        onprem = str(deployment["jurisdiction"])
    else:
        for other in all_configs.values():
            d = _config_object(other, "deployment")
            if d.get("kind") == "onprem" and d.get("jurisdiction"):
                onprem = str(d["jurisdiction"])
                break
    return {
        "today": os.environ.get("INFRA_POLICY_TODAY", ""),
        "stackJurisdiction": str(deployment.get("jurisdiction") or ""),
        "onpremJurisdiction": onprem,
        "defaultAwsRegion": str(stack_config.get("aws:region") or ""),
        **_address_plan_cidrs(stack_config),
        "remoteWriteJurisdictions": _remote_write_jurisdictions(stack_config),
        "frontDoorSites": _front_door_sites(stack_config),
    }


def policy_config(pack: PolicyPackProcess, values: Mapping[str, Any]) -> dict[str, Any]:
    """``--policy-pack-config`` shape: every policy gets the values its schema declares."""
    config: dict[str, Any] = {}
    for policy in pack.info().policies:
        declared = policy.config_schema.properties if policy.config_schema else {}
        props = {k: v for k, v in values.items() if k in declared}
        if props:
            config[policy.name] = props
    return config


def analyzed_resources(run: StackRun) -> list[AnalyzedResource]:
    by_urn: dict[str, CapturedResource] = {r.urn: r for r in run.resources}
    out = []
    for r in run.resources:
        provider = None
        if r.provider and r.provider in by_urn:
            p = by_urn[r.provider]
            provider = ProviderInfo(urn=p.urn, type=p.type, name=p.name, properties=p.inputs)
        out.append(
            AnalyzedResource(
                urn=r.urn,
                type=r.type,
                name=r.name,
                properties=r.inputs,
                parent=r.parent,
                provider=provider,
                dependencies=tuple(r.dependencies),
                custom=r.custom,
            )
        )
    return out


def _violation(d: Diagnostic) -> dict[str, Any]:
    exempt = parse_exempt_message(d.message) if d.policy_name == EXEMPTION_POLICY else None
    policy = exempt.control if exempt else d.policy_name
    message = d.message.split("\n", 1)[1] if "\n" in d.message else d.message  # drop the description line
    severity = CONTROLS[policy].severity if policy in CONTROLS else (d.severity or "medium")
    return {
        "policy": policy,
        "pack": d.pack_name,
        "enforcement": d.enforcement_level,
        "severity": severity,
        "urn": d.urn,
        "message": message,
        "exempt": exempt is not None,
        **({"exemptReason": f"until {exempt.expires}: {exempt.reason}"} if exempt else {}),
    }


def check_stack(pack: PolicyPackProcess, run: StackRun, values: Mapping[str, Any], artifact: str) -> StackPolicyResult:
    pack.configure(policy_config(pack, values))
    resources = analyzed_resources(run)
    diagnostics = [d for ds in pack.analyze_many(resources, concurrency=CONCURRENCY) for d in ds]
    diagnostics += pack.analyze_stack(resources)
    result = StackPolicyResult(stack=run.stack, checked=[r.urn for r in resources])
    result.violations = [_violation(d) for d in diagnostics]
    result.violations.sort(key=lambda v: (v["policy"], v["urn"], v["message"]))
    for v in result.violations:
        result.findings.append(
            Finding(
                control=v["policy"],
                status="exempt" if v["exempt"] else "fail",
                enforcement=v["enforcement"],
                location=v["urn"] or f"stack {run.stack}",
                message=v["message"],
                scope=run.stack,
                exempt_reason=v.get("exemptReason"),
                artifact=artifact,
            )
        )
    for policy in pack.info().policies:
        if policy.name == EXEMPTION_POLICY:
            continue
        mine = [v for v in result.violations if v["policy"] == policy.name]
        status = "fail" if any(not v["exempt"] for v in mine) else ("exempt" if mine else "pass")
        control = CONTROLS.get(policy.name)
        result.policies.append(
            {
                "name": policy.name,
                "severity": policy.severity,
                "framework": control.framework if control else "",
                "enforcement": policy.enforcement_level,
                "status": status,
            }
        )
    return result


class StackChecks:
    """Analyse every stack that ran cleanly, each as soon as its run comes in, while other stacks still run.

    One thread, one stack at a time (the pack holds one stack's policy config at a time).  Start it only
    where a thread is safe (after any fork); :meth:`results` waits and returns the stacks in ``order``.
    """

    def __init__(self, session: PackSession, order: list[str], configs: Mapping[str, Mapping[str, Any]]) -> None:
        self._session = session
        self._order = order
        self._configs = configs
        self._queue: queue.SimpleQueue[StackRun | None] = queue.SimpleQueue()
        self._results: dict[str, StackPolicyResult] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="policy-checks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, run: StackRun) -> None:
        if run.ok:  # a stack with problems has nothing trustworthy to analyse
            self._queue.put(run)

    def _work(self) -> None:
        try:
            pack = self._session.ready()
            while (run := self._queue.get()) is not None:
                values = stack_policy_values(self._configs.get(run.stack, {}), self._configs)
                self._results[run.stack] = check_stack(pack, run, values, f"Pulumi.{run.stack}.yaml")
        except BaseException as error:
            self._error = error

    def results(self) -> dict[str, StackPolicyResult]:
        """Wait for every submitted stack; re-raise what stopped the analysis."""
        if self._thread.ident is None:
            self.start()
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return {name: self._results[name] for name in self._order if name in self._results}

    def abandon(self) -> None:
        """Let the thread end once it has done what was submitted, without waiting for it (idempotent)."""
        self._queue.put(None)


def report_of(results: Mapping[str, StackPolicyResult], pack_policies: list[str]) -> Report:
    controls = [CONTROLS[name] for name in pack_policies if name in CONTROLS]
    scopes = [Scope(name=name, checked=r.checked, findings=r.findings) for name, r in results.items()]
    return Report(tool="infra check (data-residency pack)", scopes=scopes, controls=controls)


def attach(doc: dict[str, Any], results: Mapping[str, StackPolicyResult]) -> None:
    """Add ``violations`` and ``policies`` to each analysed stack of an inventory document."""
    for stack in doc["stacks"]:
        result = results.get(stack["stack"])
        if result is not None:
            stack["violations"] = result.violations
            stack["policies"] = result.policies


def fail(message: str) -> None:
    print(f"infra: policy pack: {message}", file=sys.stderr)


__all__ = [
    "PACK_DIR",
    "PackSession",
    "PolicyPackError",
    "StackChecks",
    "StackPolicyResult",
    "attach",
    "fail",
    "report_of",
    "stack_policy_values",
]
