"""Validate custom resources against the vendored upstream CRDs with ``jsonschema``: those of ``schemas/crds/`` (from
the shared folder) and those the stacks install themselves (``components/vendor/*-crds``, ``*-standard``). A kind
found in several files (Gateway API: the shared copy and the v1.4.1 standard channel the clusters get) must validate
against each.

A CRD's ``openAPIV3Schema`` is OpenAPI v3 with Kubernetes extensions. The validator turns
``x-kubernetes-int-or-string`` into "integer or string" and, like the API server's strict field validation
(``kubectl apply --validate=strict``), reports unknown fields: an object schema that lists ``properties`` and
neither ``additionalProperties`` nor ``x-kubernetes-preserve-unknown-fields`` gets ``additionalProperties: false``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = ROOT / "schemas" / "crds"
CRD_DIRS = (CRD_DIR, *sorted(p for p in (ROOT / "components" / "vendor").iterdir() if p.is_dir()))


class _Loader(yaml.CSafeLoader):
    """SafeLoader that reads a bare ``=`` scalar (YAML's value tag) as the string "=" (see the shared README)."""


def _value_as_string(loader: yaml.CSafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:value", _value_as_string)


@cache
def crds() -> dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]]:
    """(group, version, kind) -> [(file, openAPIV3Schema)], for every vendored CRD file."""
    schemas: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]] = {}
    for path in sorted(p for d in CRD_DIRS for p in d.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=_Loader)
        spec = crd["spec"]
        for version in spec["versions"]:
            key = (spec["group"], version["name"], spec["names"]["kind"])
            schemas.setdefault(key, []).append((str(path.relative_to(ROOT)), version["schema"]["openAPIV3Schema"]))
    return schemas


def strict(schema: Any) -> Any:
    """The schema as the API server applies it in strict mode (see the module docstring)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def schemas_for(api_version: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    group, _, version = api_version.partition("/")
    return [(path, strict(schema)) for path, schema in crds().get((group, version, kind), [])]


def errors(manifest: Mapping[str, Any]) -> Iterator[str]:
    """Every schema violation of ``manifest`` (empty when valid); a kind without a vendored CRD is one error."""
    found = schemas_for(str(manifest.get("apiVersion")), str(manifest.get("kind")))
    if not found:
        yield f"no vendored CRD for {manifest.get('apiVersion')} {manifest.get('kind')} in {CRD_DIRS}"
        return
    for file, schema in found:
        validator = jsonschema.Draft7Validator(schema)
        for error in sorted(validator.iter_errors(dict(manifest)), key=lambda e: list(e.path)):
            path = ".".join(str(p) for p in error.path)
            yield f"{file}: {path or '<root>'}: {error.message}"


BUILT_IN_GROUPS = frozenset(
    {
        "core",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "node.k8s.io",
        "certificates.k8s.io",
        "helm.sh",
    }
)


def is_provider_component(type_token: str) -> bool:
    """The provider's own resources (a Helm release, a yaml/v2 ConfigGroup): not objects the API server stores."""
    return type_token.startswith(("kubernetes:yaml/", "kubernetes:helm.sh/", "kubernetes:kustomize/"))


def is_custom_resource(type_token: str) -> bool:
    """A ``kubernetes:<group>/<version>:<Kind>`` token of a group the API server does not build in."""
    if not type_token.startswith("kubernetes:") or type_token.count(":") != 2:
        return False
    if is_provider_component(type_token):
        return False
    group = type_token.split(":")[1].rpartition("/")[0]
    return group not in BUILT_IN_GROUPS
