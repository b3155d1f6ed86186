"""The Pulumi project on disk: Pulumi.yaml, its stacks, and their config merged as the CLI merges it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ProjectError(Exception):
    """The project files themselves are unreadable or malformed."""


@dataclass(frozen=True)
class StackFile:
    name: str
    path: Path
    config: dict[str, str]
    """Config as the engine hands it to the program: ``namespace:key`` to text (objects as JSON)."""
    secret_keys: frozenset[str]


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    main: Path
    project_config: dict[str, Any]

    def stack_names(self) -> list[str]:
        return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in self.root.glob("Pulumi.*.yaml"))

    def stack(self, name: str) -> StackFile:
        path = self.root / f"Pulumi.{name}.yaml"
        if not path.is_file():
            raise ProjectError(
                f"no stack {name!r}: {path.name} does not exist (stacks: {', '.join(self.stack_names())})"
            )
        data = _load_yaml(path)
        stack_config = data.get("config") or {}
        if not isinstance(stack_config, dict):
            raise ProjectError(f"{path.name}: 'config' must be a mapping")
        merged: dict[str, Any] = dict(self.project_config)
        secret_keys: set[str] = set()
        for key, value in stack_config.items():
            full = self._qualify(str(key))
            if isinstance(value, dict) and set(value) == {"secure"}:
                # Encrypted values cannot be decrypted offline; the program sees a placeholder, marked secret.
                secret_keys.add(full)
                value = "[secret]"
            merged[full] = value
        return StackFile(name, path, {k: _as_engine_text(v) for k, v in merged.items()}, frozenset(secret_keys))

    def _qualify(self, key: str) -> str:
        return key if ":" in key else f"{self.name}:{key}"


def load_project(root: Path) -> Project:
    path = root / "Pulumi.yaml"
    if not path.is_file():
        raise ProjectError(f"{root} is not a Pulumi project (no Pulumi.yaml)")
    data = _load_yaml(path)
    name = data.get("name")
    if not isinstance(name, str):
        raise ProjectError("Pulumi.yaml: 'name' is required")
    config: dict[str, Any] = {}
    for key, decl in (data.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(decl, dict):
            # A declaration: the CLI uses its value, else its default.
            if "value" in decl:
                config[full] = decl["value"]
            elif "default" in decl:
                config[full] = decl["default"]
        else:
            config[full] = decl
    main = root / str(data.get("main") or "__main__.py")
    if main.is_dir():
        main = main / "__main__.py"
    return Project(root=root, name=name, main=main, project_config=config)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path.name}: not valid YAML: {exc}".replace("\n", " ")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProjectError(f"{path.name}: must be a mapping at the top level")
    return data


def _as_engine_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))
