"""What every rule shares: the resource view, the policy config, and exemption handling.

A *check* is a plain function over a :class:`View` (resource checks) or a list of views (stack checks)
returning problems; :func:`resource_policy` / :func:`stack_policy` turn it into a CrossGuard policy named
after its control (``residency.controls``), with the control's text, severity, framework and remediation.

Exemptions: when a check finds problems on a resource carrying a *valid* exemption for that control, the
control's policy stays silent and the advisory ``policy-exemption`` stack policy reports each waived
problem as ``EXEMPT until <date>: <reason>; <control>: <problem>`` (``residency.exemptions``). An expired
or malformed exemption waives nothing: the control's own policy reports the problem and says so.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.config_schema import schema_properties
from residency import JURISDICTIONS, TAG_DATA_CLASSIFICATION, TAG_DATA_RESIDENCY, Jurisdiction, jurisdiction_for_region
from residency.controls import Control, control
from residency.exemptions import Exemption, aws_exemptions, has_exemption_key, kubernetes_exemptions
from residency.kubernetes_manifests import is_kubernetes_object

DOCS_URL = "https://github.com/hybrid-llm-infra/hybrid-llm-infra/blob/main/README.md#policy-pack-and-compliance-reports"

# --- config ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    raw: Mapping[str, Any]
    today: date
    stack_jurisdiction: Jurisdiction | None
    onprem_jurisdiction: Jurisdiction | None
    default_region: str

    def get(self, key: str, default: Any) -> Any:
        value = self.raw.get(key)
        return default if value is None else value


@lru_cache(maxsize=64)
def _parse_date(text: str) -> date:
    return date.fromisoformat(text) if text else date.today()


@lru_cache(maxsize=64)
def _common(
    today: str, stack: str, onprem: str, region: str
) -> tuple[date, Jurisdiction | None, Jurisdiction | None, str]:
    """The parsed common keys (one ``Config`` per policy per resource is built from them)."""
    return _parse_date(today), JURISDICTIONS.get(stack), JURISDICTIONS.get(onprem), region


def config_of(raw: Mapping[str, Any] | None) -> Config:
    raw = raw or {}
    today, stack, onprem, region = _common(
        str(raw.get("today") or ""),
        str(raw.get("stackJurisdiction") or ""),
        str(raw.get("onpremJurisdiction") or "EU"),
        str(raw.get("defaultAwsRegion") or ""),
    )
    return Config(raw=raw, today=today, stack_jurisdiction=stack, onprem_jurisdiction=onprem, default_region=region)


# --- the resource view ----------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _default_tags(text: str) -> Mapping[str, str]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    tags = data.get("tags") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


@lru_cache(maxsize=256)
def _eks_region(kubeconfig: str) -> str | None:
    """The region of an EKS API server named in a kubeconfig, or None for any other cluster."""
    try:
        data = json.loads(kubeconfig)
    except ValueError:
        data = None
    servers: list[str] = []
    if isinstance(data, dict):
        for cluster in data.get("clusters") or []:
            server = (cluster.get("cluster") or {}).get("server") if isinstance(cluster, dict) else None
            if isinstance(server, str):
                servers.append(server)
    else:
        servers = [line.split("server:", 1)[1].strip() for line in kubeconfig.splitlines() if "server:" in line]
    for server in servers:
        host = server.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        if host.endswith(".eks.amazonaws.com"):
            parts = host.split(".")
            return parts[-4] if len(parts) >= 5 else None
    return None


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


@dataclass
class View:
    """One resource as the rules see it: type, inputs (or outputs), and where it runs.

    Treat it as read-only: the pack's rules share one view of a resource between its policies (see
    :func:`_resource_view`), so what it derives from its inputs (tags, labels, markers) is computed once.
    """

    type: str
    props: Mapping[str, Any]
    urn: str
    name: str
    provider_type: str
    provider_props: Mapping[str, Any]
    dependencies: frozenset[str] = frozenset()
    """URNs this resource depends on (stack policies only)."""
    is_aws: bool = field(init=False, repr=False, compare=False)
    is_k8s: bool = field(init=False, repr=False, compare=False)
    _markers: Mapping[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.is_aws = self.type.startswith("aws:")
        self.is_k8s = is_kubernetes_object(self.type)

    def tags(self) -> dict[str, Any]:
        """AWS tags with the provider's default tags underneath (they count as tags)."""
        merged: dict[str, Any] = {}
        default = self.provider_props.get("defaultTags") if self.provider_type == "pulumi:providers:aws" else None
        if isinstance(default, str):
            merged.update(_default_tags(default))
        elif isinstance(default, Mapping):
            merged.update(as_mapping(default.get("tags")))
        merged.update(as_mapping(self.props.get("tags")))
        return merged

    def metadata(self) -> Mapping[str, Any]:
        return as_mapping(self.props.get("metadata"))

    def labels(self) -> Mapping[str, Any]:
        return as_mapping(self.metadata().get("labels"))

    def residency_markers(self) -> Mapping[str, Any]:
        """Tags (AWS) or labels (Kubernetes): where data-residency and data-classification are read."""
        markers = self._markers
        if markers is None:
            markers = self._markers = self.tags() if self.is_aws else self.labels() if self.is_k8s else {}
        return markers

    def aws_region(self, config: Config) -> str:
        if self.provider_type == "pulumi:providers:aws":
            region = self.provider_props.get("region")
            if isinstance(region, str) and region:
                return region
        return config.default_region

    def eks_region(self) -> str | None:
        if self.provider_type != "pulumi:providers:kubernetes":
            return None
        kubeconfig = self.provider_props.get("kubeconfig")
        return _eks_region(kubeconfig) if isinstance(kubeconfig, str) else None

    def on_aws(self) -> bool:
        return self.is_aws or (self.is_k8s and self.eks_region() is not None)

    def location(self, config: Config) -> tuple[str, Jurisdiction | None]:
        """Where the resource runs (``aws region`` or ``on-prem site``) and that place's jurisdiction."""
        if self.is_aws:
            region = self.aws_region(config)
            return (f"AWS region {region or '(unknown)'}", jurisdiction_for_region(region) if region else None)
        eks_region = self.eks_region()
        if eks_region is not None:
            return (f"EKS in {eks_region}", jurisdiction_for_region(eks_region))
        site = config.onprem_jurisdiction
        return (f"the on-prem site ({site.id if site else '?'})", site)

    def exemptions(self, today: date) -> dict[str, Exemption]:
        if self.is_aws:
            tags = self.tags()
            return aws_exemptions(tags, today) if has_exemption_key(tags) else {}
        if self.is_k8s:
            annotations = as_mapping(self.metadata().get("annotations"))
            return kubernetes_exemptions(annotations, today) if has_exemption_key(annotations) else {}
        return {}

    @property
    def residency(self) -> Any:
        return self.residency_markers().get(TAG_DATA_RESIDENCY)

    @property
    def classification(self) -> Any:
        return self.residency_markers().get(TAG_DATA_CLASSIFICATION)


def view_of(resource: Any) -> View:
    """A View of a ``ResourceValidationArgs`` or a ``PolicyResource``."""
    provider = resource.provider
    return View(
        type=resource.resource_type,
        props=resource.props,
        urn=resource.urn,
        name=resource.name,
        provider_type=provider.resource_type if provider is not None else "",
        provider_props=provider.props if provider is not None else {},
        dependencies=frozenset(d.urn for d in getattr(resource, "dependencies", None) or ()),
    )


class _LastView(threading.local):
    """The view of the resource this thread is analysing (one ``Analyze`` request at a time per thread)."""

    def __init__(self) -> None:
        self.key: tuple[Any, ...] = ()
        self.view: View | None = None


_LAST_VIEW = _LastView()


def _resource_view(args: ResourceValidationArgs) -> View:
    """``view_of(args)``, shared by the policies that look at the same resource in one ``Analyze`` call.

    The SDK hands each policy its own ``ResourceValidationArgs`` but, with ``sdk_cache`` installed, the very
    same props and provider objects; a view is reused only when those are identical (held here, so their
    identity cannot be recycled) and the resource's type, URN and name are equal.  Without ``sdk_cache``
    nothing is shared and every policy builds its own view, as before.
    """
    memo = _LAST_VIEW
    key = memo.key
    if (
        key
        and key[0] is args.props
        and key[1] is args.provider
        and key[2] == args.urn
        and key[3] == args.resource_type
        and key[4] == args.name
        and memo.view is not None
    ):
        return memo.view
    view = view_of(args)
    memo.key = (args.props, args.provider, args.urn, args.resource_type, args.name)
    memo.view = view
    return view


# --- policies from checks -------------------------------------------------------------------------------------

ResourceCheck = Callable[[View, Config], list[str]]
StackCheck = Callable[[list[View], Config], list[tuple[View | None, str]]]

RESOURCE_CHECKS: dict[str, ResourceCheck] = {}
STACK_CHECKS: dict[str, StackCheck] = {}

_SEVERITY = {"low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH, "critical": Severity.CRITICAL}
_LEVEL = {
    "advisory": EnforcementLevel.ADVISORY,
    "mandatory": EnforcementLevel.MANDATORY,
    "disabled": EnforcementLevel.DISABLED,
}


def _framework(c: Control) -> PolicyComplianceFramework:
    frameworks = sorted({citation.framework for citation in c.citations})
    return PolicyComplianceFramework(
        name=", ".join(frameworks),
        reference=c.framework,
        specification="; ".join(sorted({f"{citation.framework} {citation.article}" for citation in c.citations})),
    )


def policy_fields(control_id: str) -> dict[str, Any]:
    """The keyword arguments every policy takes from the controls catalogue."""
    c = control(control_id)
    return {
        "name": c.id,
        "description": f"{c.title}. {c.description}",
        "enforcement_level": _LEVEL[c.enforcement],
        "config_schema": PolicyConfigSchema(properties=schema_properties(c.id)),
        "display_name": c.title,
        "severity": _SEVERITY[c.severity],
        "framework": _framework(c),
        "tags": ["data-residency", *sorted({citation.framework for citation in c.citations})],
        "remediation_steps": c.remediation,
        "url": DOCS_URL,
    }


def _waiver_note(exemption: Exemption | None) -> str:
    return exemption.waiver_note() if exemption is not None else ""


def resource_policy(control_id: str, types: tuple[str, ...] | None = None) -> Callable[[ResourceCheck], ResourceCheck]:
    """Register ``check`` as the resource policy of ``control_id``; ``types`` (prefixes) pre-filter cheaply."""

    def register(check: ResourceCheck) -> ResourceCheck:
        RESOURCE_CHECKS[control_id] = check

        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if types is not None and not args.resource_type.startswith(types):
                return
            view = _resource_view(args)
            config = config_of(args.get_config())
            problems = check(view, config)
            if not problems:
                return
            exemption = view.exemptions(config.today).get(control_id)
            if exemption is not None and exemption.active:
                return  # reported, as exempt, by the policy-exemption policy
            note = _waiver_note(exemption)
            for problem in problems:
                report_violation(note + problem, None)

        _POLICIES.append(ResourceValidationPolicy(validate=validate, **policy_fields(control_id)))
        return check

    return register


def stack_policy(control_id: str) -> Callable[[StackCheck], StackCheck]:
    def register(check: StackCheck) -> StackCheck:
        STACK_CHECKS[control_id] = check

        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            config = config_of(args.get_config())
            views = [view_of(r) for r in args.resources]
            for view, problem in check(views, config):
                exemption = view.exemptions(config.today).get(control_id) if view is not None else None
                if exemption is not None and exemption.active:
                    continue
                report_violation(_waiver_note(exemption) + problem, view.urn if view is not None else None)

        _POLICIES.append(StackValidationPolicy(validate=validate, **policy_fields(control_id)))
        return check

    return register


_POLICIES: list[Any] = []


def registered_policies() -> list[Any]:
    return list(_POLICIES)
