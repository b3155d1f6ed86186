"""Read the stack's config once, validate all of it, and return a typed StackConfig.

``parse_stack_config`` is pure (a mapping of ``namespace:key`` to the string the Pulumi
engine hands the program), so tests and ``infra`` can call it without a Pulumi runtime.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from residency import JURISDICTIONS, ONPREM_ONLY_CLASSIFICATIONS
from stackconfig.addressing import check_address_plan
from stackconfig.change_windows import change_window_problems
from stackconfig.errors import ConfigError, Problem
from stackconfig.front_door import front_door_model_problems, front_door_problems
from stackconfig.images import production_image_problems
from stackconfig.inference import classification_of
from stackconfig.latency import sites_of, stack_latency_problems
from stackconfig.models import AwsStackConfig, OnPremStackConfig, StackConfig
from stackconfig.observability import metrics_problems, namespace_problems
from stackconfig.onprem_cluster import cluster_problems, exposure_problems
from stackconfig.onprem_front_door import onprem_front_door_problems
from stackconfig.types import PROJECT
from stackconfig.vpn import gateway_problems, vpn_problems

# Keys read from other namespaces; everything else outside ours belongs to providers.
_FOREIGN_KEYS = {"aws:region": "aws:region"}


def parse_stack_config(raw: Mapping[str, str]) -> StackConfig:
    """Validate the whole config or raise ConfigError listing every problem."""
    data: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in sorted(raw.items()):
        namespace, _, name = key.partition(":")
        if namespace == PROJECT:
            data[name] = _decode(value)
        elif key in _FOREIGN_KEYS:
            data[_FOREIGN_KEYS[key]] = value

    kind = data.get("deployment", {}).get("kind") if isinstance(data.get("deployment"), dict) else None
    model: type[BaseModel]
    if kind == "aws":
        model = AwsStackConfig
    elif kind == "onprem":
        model = OnPremStackConfig
    else:
        problems.append(Problem(f"{PROJECT}:deployment.kind", f"required; allowed: aws, onprem (got {kind!r})"))
        raise ConfigError(problems)

    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems_from(exc, model)) from None
    assert isinstance(config, (AwsStackConfig, OnPremStackConfig))
    problems = check_address_plan(config.address_plan) + _semantic_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


def _decode(value: str) -> Any:
    # The engine passes objects and lists as JSON text and scalars as plain strings.
    stripped = value.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return value
    return value


def _semantic_problems(config: StackConfig) -> list[Problem]:
    problems: list[Problem] = production_image_problems(config)
    problems += metrics_problems(
        f"{PROJECT}:metrics", config.metrics, config.deployment.jurisdiction, config.deployment.kind
    )
    if isinstance(config, OnPremStackConfig):
        kube = config.kubernetes
        taken = {ns: f"{PROJECT}:kubernetes.namespaces" for ns in kube.namespaces}
        taken[kube.gpu_operator.namespace] = f"{PROJECT}:kubernetes.gpuOperator.namespace"
        if kube.vpn_gateway_namespace:
            taken[kube.vpn_gateway_namespace] = f"{PROJECT}:kubernetes.vpnGatewayNamespace"
    else:
        taken = {m.namespace: f"{PROJECT}:inference[{i}].namespace" for i, m in enumerate(config.inference)}
        taken.setdefault("inference", "the AWS cluster's inference namespace")
    problems += namespace_problems(config.metrics, config.keda, taken)
    problems += change_window_problems(f"{PROJECT}:changeWindows", config.change_windows)
    problems += stack_latency_problems(
        config.latency,
        set(config.address_plan.aws_sites),
        config.deployment.site,
        onprem=isinstance(config, OnPremStackConfig),
        # A region outside the jurisdiction is refused below; the site's location is not compared with it.
        aws_region=config.aws_region
        if isinstance(config, AwsStackConfig)
        and config.aws_region in JURISDICTIONS[config.deployment.jurisdiction].aws_regions
        else None,
    )
    if isinstance(config, OnPremStackConfig):
        problems += _onprem_cluster_problems(config)
        problems += gateway_problems(config.vpn_gateway, config.address_plan)
        problems += onprem_front_door_problems(
            f"{PROJECT}:frontDoor",
            config.front_door,
            [m.name for m in config.kubernetes.models],
            taken,
            [
                m.name
                for m in config.kubernetes.models
                if classification_of(m, config.classification) in ONPREM_ONLY_CLASSIFICATIONS
            ],
        )
    jurisdiction = JURISDICTIONS[config.deployment.jurisdiction]
    if isinstance(config, AwsStackConfig):
        if config.aws_region not in jurisdiction.aws_regions:
            allowed = ", ".join(sorted(jurisdiction.aws_regions))
            problems.append(
                Problem(
                    "aws:region",
                    f"{config.aws_region} is outside jurisdiction {jurisdiction.id} "
                    f"({jurisdiction.regulation.id}); allowed: {allowed}",
                )
            )
        sites = config.address_plan.aws_sites
        if config.deployment.site not in sites:
            problems.append(
                Problem(
                    f"{PROJECT}:deployment.site",
                    f"{config.deployment.site!r} is not a site of {PROJECT}:addressPlan.awsSites (have: {', '.join(sorted(sites))})",
                )
            )
        else:
            problems += _subnet_fit_problems(config)
            problems += vpn_problems(config.vpn, config.address_plan, config.deployment.site)
        problems += front_door_problems(f"{PROJECT}:frontDoor", config.front_door, jurisdiction.id)
        problems += _secondary_site_problems(config)
        problems += front_door_model_problems(
            f"{PROJECT}:frontDoor",
            config.front_door,
            {m.name: m.data_classification or config.classification for m in config.inference},
        )
        if config.classification == "restricted":
            problems.append(
                Problem(
                    f"{PROJECT}:deployment.dataClassification",
                    "restricted data stays on-prem; allowed on AWS: public, internal, confidential",
                )
            )
    return problems


def _secondary_site_problems(config: AwsStackConfig) -> list[Problem]:
    """The site a hostname fails over to is an on-prem site the project knows (hybrid-llm-infra:latency.sites), in
    the stack's jurisdiction by its country: a misspelt site would otherwise pass every other check."""
    door = config.front_door
    if door is None or door.secondary is None or not config.latency.sites:
        return []
    key = f"{PROJECT}:frontDoor.secondary.site"
    name = door.secondary.site
    sites = {site.name: site for site in sites_of(config.latency)[0]}
    declared = config.latency.sites
    if name in declared and declared[name].region is None and name not in sites:
        return []  # declared but invalid: the latency check names its key
    onprem = {n: site for n, site in sites.items() if site.kind == "onprem"}
    if name not in onprem:
        known = ", ".join(sorted(onprem)) or "none"
        return [Problem(key, f"{name!r} is not an on-prem site of {PROJECT}:latency.sites (on-prem sites: {known})")]
    where = onprem[name].jurisdiction
    if where != config.deployment.jurisdiction:
        return [
            Problem(
                key,
                f"{name} is in {where} by its country (latency.sites.{name}.country), not in "
                f"{config.deployment.jurisdiction}",
            )
        ]
    return []


def _onprem_cluster_problems(config: OnPremStackConfig) -> list[Problem]:
    kube = config.kubernetes
    base = f"{PROJECT}:kubernetes"
    reserved = {kube.gpu_operator.namespace: f"{base}.gpuOperator.namespace"}
    if kube.vpn_gateway_namespace:
        reserved[kube.vpn_gateway_namespace] = f"{base}.vpnGatewayNamespace"
    problems = cluster_problems(base, kube.namespaces, kube.quotas, kube.models, reserved)
    sites = sorted(config.address_plan.aws_sites)
    return problems + exposure_problems(base, kube.models, sites, config.classification)


def _subnet_fit_problems(config: AwsStackConfig) -> list[Problem]:
    vpc = ipaddress.IPv4Network(config.site_plan.vpc_cidr)
    net = config.network
    problems = []
    for key, prefix in (
        ("privateSubnetPrefix", net.private_subnet_prefix),
        ("publicSubnetPrefix", net.public_subnet_prefix),
    ):
        if prefix <= vpc.prefixlen:
            problems.append(
                Problem(f"{PROJECT}:network.{key}", f"/{prefix} must be longer than the VPC's /{vpc.prefixlen}")
            )
    if problems:
        return problems
    needed = net.az_count * (2 ** (32 - net.private_subnet_prefix) + 2 ** (32 - net.public_subnet_prefix))
    if needed > vpc.num_addresses:
        problems.append(
            Problem(
                f"{PROJECT}:network.azCount",
                f"{net.az_count} AZs of /{net.private_subnet_prefix} private and /{net.public_subnet_prefix} public "
                f"subnets need {needed} addresses; the VPC {vpc} has {vpc.num_addresses}",
            )
        )
    return problems


def _problems_from(exc: ValidationError, model: type[BaseModel]) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        path = _key_path(error["loc"], camel=error["type"] != "extra_forbidden")
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _allowed_keys_hint(model, loc[:-1])
        elif error["type"] == "missing":
            message = "required"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if "input" in error and not isinstance(error["input"], (dict, list)):
                message += f" (got {error['input']!r})"
        problems.append(Problem(path, message))
    return problems


def _key_path(loc: tuple[int | str, ...], camel: bool = False) -> str:
    if not loc:
        return PROJECT
    head, *rest = loc
    path = head if isinstance(head, str) and ":" in head else f"{PROJECT}:{head}"
    for part in rest:
        # pydantic names a field validated from its default by its Python name: show the config key
        # (but never rename a key the user wrote, such as an unknown ``az_count``).
        path += f"[{part}]" if isinstance(part, int) else f".{to_camel(part) if camel and '_' in part else part}"
    return path


def _allowed_keys_hint(model: type[BaseModel], parent: list[str]) -> str:
    current: type[BaseModel] | None = model
    for part in parent:
        if current is None:
            return ""
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        annotation = getattr(field, "annotation", None) if field else None
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if current is None:
        return ""
    allowed = sorted(f.alias or n for n, f in current.model_fields.items())
    return f"; allowed: {', '.join(allowed)}"
