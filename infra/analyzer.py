"""Drive a Python CrossGuard policy pack over gRPC exactly the way the Pulumi CLI does, without the CLI.

Why: the policy tests and the benchmark must know what a pack does under ``pulumi preview --policy-pack``,
and the Pulumi CLI cannot be installed here.  The only trustworthy stand-in is a host that speaks the same
protocol, in the same order, with the same encodings.  What the CLI does (pulumi/pulumi:
``sdk/go/common/resource/plugin/analyzer_plugin.go`` and ``plugin.go``, ``pkg/engine/plugins.go``,
``pkg/resource/analyzer/config.go``, ``pkg/resource/deploy/step_generator.go``) and this module mirrors:

1. **Boot.**  The CLI runs ``pulumi-analyzer-policy-python <engine address> .`` with the pack directory as
   working directory; that script execs ``python -u -m pulumi.policy <engine address> .``.  The pack prints
   its port as the first line of stdout; everything after that, and all of stderr, is plain output the CLI
   only displays.  (``pulumi_policy`` never dials the engine address: ``pulumi.log`` inside a pack prints
   ``info: ...`` to stderr.  The engine server here exists because the CLI always offers one.)
2. **Dial and handshake.**  Wait for the channel, then ``Handshake``; ``pulumi_policy`` answers
   UNIMPLEMENTED, which the CLI accepts as a legacy plugin.  UNAVAILABLE is retried.
3. **ConfigureStack** (only when analysing a stack): project, stack, organization, dry-run, config, tags;
   the same values go into ``PULUMI_PROJECT``/``PULUMI_STACK``/``PULUMI_ORGANIZATION``/``PULUMI_DRY_RUN``/
   ``PULUMI_CONFIG`` in the pack's environment.
4. **GetAnalyzerInfo, then Configure.**  The CLI *always* configures a pack that supports config, with a
   reconciled map: every policy gets its default enforcement level and its schema's ``default`` values,
   then the pack's initial config, then the user's config (``all`` first), validated against each policy's
   JSON schema.  Sending a bare ``{"policy": {"prop": 1}}`` instead would silently downgrade the policy to
   advisory, because the proto3 default enforcement level is ADVISORY (see :func:`reconcile_policy_config`).
5. **Per resource:** ``Remediate`` then ``Analyze`` on the inputs (secrets kept, unknowns kept, ``__`` keys
   skipped for Analyze only); the CLI attributes every diagnostic to the analysed resource's URN.
   **At the end:** ``AnalyzeStack`` on the outputs with parent, dependencies and property dependencies.
6. **Close.**  Close the connection, SIGINT the process group, SIGKILL it after 5 s.

Secrets travel the way the engine marshals them: ``{"4dabf18193072939515e22adb298388d":
"1b47061264138c4ac30d75fd1eb44270", "value": ...}``.  Wrap a value in :class:`Secret` to send it so; the
SDK unwraps it for ``validate`` (a policy sees the plain value) and wraps it in ``pulumi_policy.Secret`` for
``remediate`` (writes to it stay secret).  :class:`Unknown` sends the engine's unknown sentinels.  All
numbers are float64 on the wire, so a policy sees ``3.0`` for ``3``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, cast

import grpc
import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2, engine_pb2_grpc

__all__ = [
    "ARCHIVE_SIG",
    "ASSET_SIG",
    "SECRET_SIG",
    "SPECIAL_SIG_KEY",
    "UNKNOWN_SENTINELS",
    "AnalyzedResource",
    "AnalyzerCallError",
    "AnalyzerInfo",
    "ConfigSchema",
    "CustomTimeouts",
    "Diagnostic",
    "EngineServer",
    "LogEntry",
    "PolicyConfig",
    "PolicyConfigError",
    "PolicyInfo",
    "PolicyPackError",
    "PolicyPackManifest",
    "PolicyPackProcess",
    "PolicyPackStartError",
    "ProviderInfo",
    "Remediation",
    "ResourceOptions",
    "Secret",
    "StackContext",
    "Unknown",
    "from_wire",
    "make_urn",
    "parse_policy_config",
    "reconcile_policy_config",
    "to_struct",
    "to_wire",
    "validate_policy_config",
]

# --- Wire constants (sdk/go/common/resource/properties.go; pulumi_policy/deserialize.py, proxy.py) -------------

SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d"
"""Key whose value identifies a special object (secret, asset, archive, ...) inside a Struct."""
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"

UnknownKind = Literal["bool", "number", "string", "array", "asset", "archive", "object"]
UNKNOWN_SENTINELS: dict[UnknownKind, str] = {
    "bool": "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
    "number": "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "string": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
    "array": "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "asset": "030794c1-ac77-496b-92df-f27374a8bd58",
    "archive": "e48ece36-62e2-4504-bad9-02848725956a",
    "object": "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
}
"""The strings the engine sends for values that are unknown during preview (``KeepUnknowns: true``)."""
_SENTINEL_KINDS: dict[str, UnknownKind] = {sentinel: kind for kind, sentinel in UNKNOWN_SENTINELS.items()}

EnforcementLevel = Literal["advisory", "mandatory", "remediate", "disabled"]
Severity = Literal["low", "medium", "high", "critical"]
PolicyType = Literal["resource", "stack"]
LogSeverity = Literal["debug", "info", "warning", "error"]

_ENFORCEMENT_LEVELS: tuple[EnforcementLevel, ...] = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_FROM_PROTO: dict[int, EnforcementLevel] = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
_LEVEL_TO_PROTO: dict[EnforcementLevel, int] = {name: number for number, name in _LEVEL_FROM_PROTO.items()}
_SEVERITY_FROM_PROTO: dict[int, Severity] = {
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
_POLICY_TYPE_FROM_PROTO: dict[int, PolicyType] = {
    analyzer_pb2.POLICY_TYPE_RESOURCE: "resource",
    analyzer_pb2.POLICY_TYPE_STACK: "stack",
}
_LOG_SEVERITY_FROM_PROTO: dict[int, LogSeverity] = {
    engine_pb2.DEBUG: "debug",
    engine_pb2.INFO: "info",
    engine_pb2.WARNING: "warning",
    engine_pb2.ERROR: "error",
}

# The SDK and the CLI both raise gRPC's 4 MiB default to 400 MiB; a big AnalyzeStack needs it.
_MAX_MESSAGE_BYTES = 400 * 1024 * 1024
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
]
_OUTPUT_LINES_KEPT = 10_000


# --- Values ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Secret:
    """A property value the engine would mark secret; sent wrapped in the secret signature."""

    value: Any


@dataclass(frozen=True, slots=True)
class Unknown:
    """A property value not known during preview; sent as the engine's sentinel for ``kind``."""

    kind: UnknownKind = "string"


def to_wire(value: Any, *, skip_internal_keys: bool = True) -> Any:
    """Turn a Python value into the JSON-like shape the engine puts in a ``Struct``.

    Mirrors ``MarshalProperties(KeepUnknowns, KeepSecrets, SkipInternalKeys)``: secrets become signature
    maps, unknowns become sentinels, and (for Analyze/AnalyzeStack/provider inputs, not Remediate) keys
    starting with ``__`` are dropped at every level.  Anything the engine could not hold is a ``TypeError``
    rather than a silent ``str()``.
    """
    if value is None or isinstance(value, bool | str | int | float):
        return value
    if isinstance(value, Secret):
        return {SPECIAL_SIG_KEY: SECRET_SIG, "value": to_wire(value.value, skip_internal_keys=skip_internal_keys)}
    if isinstance(value, Unknown):
        return UNKNOWN_SENTINELS[value.kind]
    if isinstance(value, Mapping):
        wire: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"property keys must be strings, not {type(key).__name__}: {key!r}")
            if skip_internal_keys and key.startswith("__"):
                continue
            wire[key] = to_wire(item, skip_internal_keys=skip_internal_keys)
        return wire
    if isinstance(value, list | tuple):
        return [to_wire(item, skip_internal_keys=skip_internal_keys) for item in value]
    raise TypeError(f"cannot send a {type(value).__name__} as a resource property: {value!r}")


def to_struct(properties: Mapping[str, Any], *, skip_internal_keys: bool = True) -> struct_pb2.Struct:
    """Properties as the ``Struct`` the engine sends (see :func:`to_wire`)."""
    struct = struct_pb2.Struct()
    struct.update(to_wire(properties, skip_internal_keys=skip_internal_keys))
    return struct


def from_wire(value: Any) -> Any:
    """Inverse of :func:`to_wire` for values a pack sends back: secrets and unknowns become markers again.

    Assets, archives and other signed objects are left as their raw maps: nothing here needs them.
    """
    if isinstance(value, str):
        kind = _SENTINEL_KINDS.get(value)
        return Unknown(kind) if kind is not None else value
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SECRET_SIG:
            return Secret(from_wire(value.get("value")))
        return {key: from_wire(item) for key, item in value.items()}
    return value


def _struct_to_python(struct: struct_pb2.Struct) -> dict[str, Any]:
    return cast(dict[str, Any], from_wire(json_format.MessageToDict(struct)))


def make_urn(project: str, stack: str, type_: str, name: str, parent_type: str | None = None) -> str:
    """The URN the engine would give a resource (``parent_type`` is the parent's *qualified* type)."""
    qualified = f"{parent_type}${type_}" if parent_type else type_
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


# --- Requests and results ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomTimeouts:
    """Custom operation timeouts in seconds; the CLI always sends the block, zeros meaning "none"."""

    create: float = 0.0
    update: float = 0.0
    delete: float = 0.0


@dataclass(frozen=True, slots=True)
class ResourceOptions:
    """The resource options the CLI forwards to policies (``AnalyzerResourceOptions``)."""

    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: bool | None = None
    additional_secret_outputs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    custom_timeouts: CustomTimeouts = CustomTimeouts()


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """The provider resource of an analysed resource; its ``properties`` are the provider's inputs."""

    urn: str
    type: str
    name: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnalyzedResource:
    """One resource as the engine describes it to a policy pack.

    ``properties`` are the inputs for :meth:`PolicyPackProcess.analyze` and the outputs for
    :meth:`PolicyPackProcess.analyze_stack`; mark secret values with :class:`Secret` and preview-time
    unknowns with :class:`Unknown`.  ``custom`` is kept for callers (the engine analyses component and
    custom resources alike) but the protocol has no field for it, so it never reaches the pack.
    """

    urn: str
    type: str
    name: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    parent: str | None = None
    provider: ProviderInfo | None = None
    dependencies: Sequence[str] = ()
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    custom: bool = True
    options: ResourceOptions = ResourceOptions()


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A policy violation, as the CLI records it.

    ``urn`` is the URN the CLI attributes the violation to: for :meth:`PolicyPackProcess.analyze` always
    the analysed resource (the CLI ignores what the pack put in the diagnostic), for ``analyze_stack`` the
    URN the policy reported ("" for the stack as a whole).  ``reported_urn`` is what the pack sent.
    ``pack_version`` is the ``version`` from ``PulumiPolicy.yaml`` when set (the Python SDK always says
    ``0.0.1``), as in the CLI.
    """

    policy_name: str
    pack_name: str
    pack_version: str
    description: str
    message: str
    enforcement_level: EnforcementLevel
    urn: str
    severity: Severity | None = None
    reported_urn: str = ""


@dataclass(frozen=True, slots=True)
class Remediation:
    """One remediation a pack applied (``properties`` is ``None`` when it only produced a diagnostic)."""

    policy_name: str
    pack_name: str
    pack_version: str
    description: str
    properties: dict[str, Any] | None
    diagnostic: str = ""


@dataclass(frozen=True, slots=True)
class ConfigSchema:
    """A policy's config schema: JSON-schema ``properties`` and ``required`` (numbers come back as floats)."""

    properties: dict[str, Any]
    required: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One policy of a pack, as ``GetAnalyzerInfo`` describes it."""

    name: str
    display_name: str
    description: str
    enforcement_level: EnforcementLevel
    message: str = ""
    config_schema: ConfigSchema | None = None
    severity: Severity | None = None
    policy_type: PolicyType | None = None


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Configuration for one policy: an enforcement level (``None``: keep the current one) and properties."""

    enforcement_level: EnforcementLevel | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnalyzerInfo:
    """A pack's metadata; ``version`` prefers ``PulumiPolicy.yaml`` and ``policies`` are sorted by name (CLI)."""

    name: str
    display_name: str
    version: str
    supports_config: bool
    description: str
    policies: tuple[PolicyInfo, ...]
    initial_config: dict[str, PolicyConfig] = field(default_factory=dict)

    def policy(self, name: str) -> PolicyInfo:
        """The policy called ``name`` (``KeyError`` if the pack has none)."""
        for policy in self.policies:
            if policy.name == name:
                return policy
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class StackContext:
    """The stack a real ``pulumi preview``/``up`` would analyse; ``None`` means "no stack" (as for publish).

    ``config`` holds fully qualified keys (``project:key``) with string values, as the CLI passes them.
    """

    project: str
    stack: str
    organization: str = "organization"
    dry_run: bool = True
    config: Mapping[str, str] = field(default_factory=dict)
    secret_config_keys: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """The variables ``constructEnv`` adds to the pack's environment."""
        env = {
            "PULUMI_ORGANIZATION": self.organization,
            "PULUMI_PROJECT": self.project,
            "PULUMI_STACK": self.stack,
            "PULUMI_DRY_RUN": "true" if self.dry_run else "false",
        }
        if self.config:
            env["PULUMI_CONFIG"] = json.dumps(dict(self.config))
        return {key: value for key, value in env.items() if value}


@dataclass(frozen=True, slots=True)
class PolicyPackManifest:
    """What the CLI reads from ``PulumiPolicy.yaml`` before it starts a pack."""

    runtime: str
    version: str
    description: str

    @classmethod
    def load(cls, pack_dir: Path) -> PolicyPackManifest:
        """Read ``PulumiPolicy.yaml``; a missing file or a non-Python runtime is an error, as in the CLI."""
        path = pack_dir / "PulumiPolicy.yaml"
        if not path.is_file():
            raise PolicyPackStartError(f"failed to load Pulumi policy project located at {str(pack_dir)!r}: no {path}")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise PolicyPackStartError(f"{path} is not a mapping")
        runtime = data.get("runtime")
        runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
        if runtime_name != "python":
            raise PolicyPackStartError(f"{path}: runtime is {runtime_name!r}; this host only runs Python packs")
        return cls(
            runtime="python", version=str(data.get("version") or ""), description=str(data.get("description") or "")
        )


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One ``Engine.Log`` call received from a plugin."""

    severity: LogSeverity
    message: str
    urn: str = ""
    stream_id: int = 0
    ephemeral: bool = False


# --- Errors ------------------------------------------------------------------------------------------------------


class PolicyPackError(RuntimeError):
    """Anything that went wrong talking to a policy pack."""


class PolicyPackStartError(PolicyPackError):
    """The pack could not be started or did not come alive (the message carries its stderr)."""


class PolicyConfigError(PolicyPackError, ValueError):
    """Policy config that the CLI would refuse (bad enforcement level, schema violation, ...)."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("invalid policy config:\n" + "\n".join(f"  {error}" for error in self.errors))


class AnalyzerCallError(PolicyPackError):
    """An Analyzer RPC failed.

    When a policy raises, the SDK's gRPC server answers UNKNOWN with ``Exception calling application:
    <str(exception)>`` in ``details``; the traceback is lost (grpc logs it to a ``NullHandler``), so
    ``details`` and ``stderr`` (the tail of the pack's stderr, for anything the policy printed) are all
    there is to go on.
    """

    def __init__(self, method: str, code: Any, details: str, stderr: str) -> None:
        self.method = method
        self.code = code
        self.details = details
        self.stderr = stderr
        super().__init__(f"{method} failed: {code}: {details}" + (f"\npack stderr:\n{stderr}" if stderr else ""))


# --- Policy config (pkg/resource/analyzer/config.go) -------------------------------------------------------------


def _enforcement_level(value: Any, where: str) -> EnforcementLevel:
    if not isinstance(value, str) or value not in _ENFORCEMENT_LEVELS:
        raise PolicyConfigError([f"{where}: {value!r} is not a valid enforcement level"])
    return cast(EnforcementLevel, value)


def parse_policy_config(config: Mapping[str, Any]) -> dict[str, PolicyConfig]:
    """Parse config in the ``--policy-pack-config`` JSON shape, as ``parsePolicyPackConfig`` does.

    A value is an enforcement level (``"mandatory"``), a map of properties that may hold an
    ``enforcementLevel`` key, or a :class:`PolicyConfig`.  Empty entries are dropped.
    """
    parsed: dict[str, PolicyConfig] = {}
    for name, value in config.items():
        if isinstance(value, PolicyConfig):
            entry = value
        elif isinstance(value, str):
            entry = PolicyConfig(_enforcement_level(value, name))
        elif isinstance(value, Mapping):
            properties = dict(value)
            level = None
            if "enforcementLevel" in properties:
                level = _enforcement_level(properties.pop("enforcementLevel"), name)
            entry = PolicyConfig(level, properties)
        else:
            raise PolicyConfigError([f"{name}: {value!r} is not a valid value; must be a string or object"])
        if entry.enforcement_level is not None or entry.properties:
            parsed[name] = entry
    return parsed


def _apply_config(result: dict[str, PolicyConfig], to_apply: Mapping[str, PolicyConfig]) -> dict[str, PolicyConfig]:
    """``applyConfig``: ``all`` sets every level first, then each entry overrides level and merges properties."""
    everything = to_apply.get("all")
    if everything is not None and everything.enforcement_level is not None:
        result = {
            name: PolicyConfig(everything.enforcement_level, current.properties) for name, current in result.items()
        }
    for name, given in to_apply.items():
        current = result.get(name, PolicyConfig())
        level = given.enforcement_level if given.enforcement_level is not None else current.enforcement_level
        result[name] = PolicyConfig(level, {**current.properties, **given.properties})
    return result


def reconcile_policy_config(info: AnalyzerInfo, config: Mapping[str, Any] | None = None) -> dict[str, PolicyConfig]:
    """The config the CLI sends with ``Configure``: ``ReconcilePolicyPackConfig`` without the validation.

    Every policy starts from its reported enforcement level and its schema's ``default`` values; the pack's
    initial config and then ``config`` are applied on top.  Faithfully to the CLI, an initial-config entry
    always carries an enforcement level (proto3 reports a missing one as ADVISORY), so it resets the
    policy's level even when the pack only meant to set properties.
    """
    result: dict[str, PolicyConfig] = {}
    for policy in info.policies:
        defaults: dict[str, Any] = {}
        if policy.config_schema is not None:
            for key, schema in policy.config_schema.properties.items():
                if isinstance(schema, Mapping) and "default" in schema:
                    defaults[key] = schema["default"]
        result[policy.name] = PolicyConfig(policy.enforcement_level, defaults)
    result = _apply_config(result, info.initial_config)
    return _apply_config(result, parse_policy_config(config or {}))


def validate_policy_config(info: AnalyzerInfo, config: Mapping[str, PolicyConfig]) -> list[str]:
    """Check each policy's properties against its JSON schema (``validatePolicyPackConfig``); errors as text."""
    errors: list[str] = []
    for policy in info.policies:
        if policy.config_schema is None:
            continue
        schema: dict[str, Any] = {"type": "object"}
        if policy.config_schema.properties:
            schema["properties"] = policy.config_schema.properties
        if policy.config_schema.required:
            schema["required"] = list(policy.config_schema.required)
        entry = config.get(policy.name)
        document = dict(entry.properties) if entry is not None else {}
        validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(schema)
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
            where = "/".join(str(part) for part in error.path)
            errors.append(f"{policy.name}: {where + ': ' if where else ''}{error.message}")
    return errors


# --- The engine side ---------------------------------------------------------------------------------------------


class _EngineServicer(engine_pb2_grpc.EngineServicer):
    """The Engine service the CLI offers every plugin: logging plus the root-resource slot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.logs: list[LogEntry] = []
        self.root_resource = ""

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        entry = LogEntry(
            severity=_LOG_SEVERITY_FROM_PROTO.get(request.severity, "info"),
            message=request.message,
            urn=request.urn,
            stream_id=request.streamId,
            ephemeral=request.ephemeral,
        )
        with self._lock:
            self.logs.append(entry)
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self._lock:
            return engine_pb2.GetRootResourceResponse(urn=self.root_resource)

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self._lock:
            self.root_resource = request.urn
        return engine_pb2.SetRootResourceResponse()

    def StartDebugging(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self._lock:
            self.logs.append(LogEntry("info", f"StartDebugging: {request.message}"))
        return empty_pb2.Empty()

    def RequirePulumiVersion(self, request: Any, context: Any) -> Any:  # noqa: N802
        # There is no CLI version to check against; accepting every range keeps packs that ask running.
        return engine_pb2.RequirePulumiVersionResponse()


class EngineServer:
    """An in-process Engine gRPC server on 127.0.0.1 and an ephemeral port, collecting log messages."""

    def __init__(self) -> None:
        self._servicer = _EngineServicer()
        self._server: Any = None
        self._placeholder: socket.socket | None = None
        self.address = ""

    def reserve(self) -> str:
        """Pick the address before serving, without starting a thread (so the caller may still fork).

        A bound, non-listening socket holds the port; gRPC binds it again with ``SO_REUSEPORT`` (its
        default on Linux) in :meth:`start`, and only then is the placeholder closed.
        """
        if self.address:
            return self.address
        placeholder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        placeholder.bind(("127.0.0.1", 0))
        self._placeholder = placeholder
        self.address = f"127.0.0.1:{placeholder.getsockname()[1]}"
        return self.address

    def start(self) -> str:
        """Start serving and return the ``host:port`` address handed to the pack."""
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="engine"), options=_GRPC_OPTIONS
        )
        engine_pb2_grpc.add_EngineServicer_to_server(self._servicer, server)
        wanted = self.address or "127.0.0.1:0"
        port = server.add_insecure_port(wanted)
        self._release_placeholder()
        if not port:
            raise PolicyPackStartError(f"could not bind the engine server to {wanted}")
        server.start()
        self._server = server
        self.address = f"127.0.0.1:{port}"
        return self.address

    def _release_placeholder(self) -> None:
        placeholder, self._placeholder = self._placeholder, None
        if placeholder is not None:
            placeholder.close()

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        self._release_placeholder()
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=None).wait(5)

    @property
    def logs(self) -> list[LogEntry]:
        """A snapshot of every ``Log`` call so far."""
        with self._servicer._lock:
            return list(self._servicer.logs)

    @property
    def root_resource(self) -> str:
        """The URN last stored with ``SetRootResource``."""
        with self._servicer._lock:
            return self._servicer.root_resource

    def __enter__(self) -> EngineServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- The pack process --------------------------------------------------------------------------------------------


def _parse_port(text: str) -> int:
    """``parsePort``: trim whitespace (and .NET's progress escapes), then a port in 1..65535."""
    cleaned = text.replace("\x1b]9;4;3;\x1b\\", "").replace("\x1b]9;4;0;\x1b\\", "").strip()
    try:
        port = int(cleaned)
    except ValueError:
        raise PolicyPackStartError(f"policy pack wrote an invalid port to stdout: {text!r}") from None
    if not 0 < port <= 65535:
        raise PolicyPackStartError(f"policy pack wrote an invalid port number: {port}")
    return port


class PolicyPackProcess:
    """A Python policy pack running as the Pulumi CLI runs it, with the Analyzer RPCs as plain methods.

    Use it as a context manager: entering starts the engine server and the pack, handshakes, sends
    ``ConfigureStack`` (if ``stack`` is given), ``GetAnalyzerInfo`` and the reconciled ``Configure`` (with
    ``policy_config``); leaving calls ``Cancel``, stops the pack (SIGINT, then SIGKILL after
    ``shutdown_timeout``) and the engine server, whatever happened inside.  Methods are thread-safe.

    ``python`` must have ``pulumi_policy`` installed (it plays the ``virtualenv`` runtime option).  ``env``
    is laid over ``os.environ`` and the stack's ``PULUMI_*`` variables, as the CLI passes its own
    environment on.  ``stack=None`` boots the pack as ``pulumi policy publish`` does, without
    ``ConfigureStack`` and without ``PULUMI_PROJECT``/``PULUMI_STACK``/``PULUMI_DRY_RUN``; pass a
    :class:`StackContext` to reproduce ``preview``/``up`` (the SDK then rebuilds its runtime settings on
    every call, which costs throughput).  ``call_timeout`` bounds every RPC (``None``: no bound).
    """

    def __init__(
        self,
        pack_dir: Path | str,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        *,
        stack: StackContext | None = None,
        policy_config: Mapping[str, Any] | None = None,
        startup_timeout: float = 60.0,
        call_timeout: float | None = 120.0,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.pack_dir = Path(pack_dir).resolve()
        self.python = python
        self.env = dict(env or {})
        self.stack = stack
        self.policy_config = dict(policy_config or {})
        self.startup_timeout = startup_timeout
        self.call_timeout = call_timeout
        self.shutdown_timeout = shutdown_timeout
        self.manifest = PolicyPackManifest.load(self.pack_dir)
        self.engine = EngineServer()
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.handshake_supported: bool | None = None
        self.cancel_supported: bool | None = None
        self.configured: dict[str, PolicyConfig] = {}
        self._analyzer_info: AnalyzerInfo | None = None
        self._channel: Any = None
        self._stub: Any = None
        self._output_lock = threading.Lock()
        self._stdout: deque[str] = deque(maxlen=_OUTPUT_LINES_KEPT)
        self._stderr: deque[str] = deque(maxlen=_OUTPUT_LINES_KEPT)
        self._port_line: str | None = None
        self._port_ready = threading.Event()
        self._pumps: list[threading.Thread] = []
        self._started = False
        self._closed = False
        # The signals close() sent, in order: [] (it had exited), [SIGINT] (stopped within the grace) or
        # [SIGINT, SIGKILL] (killed after it); says how the pack was stopped whatever the machine's speed.
        self.stop_signals: list[signal.Signals] = []

    # -- lifecycle --

    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def spawn(self) -> None:
        """Launch the pack process only: no thread, no server yet, so the caller may still fork.

        :meth:`start` finishes the boot (engine server, output pumps, port, dial); until then the pack's
        output waits in its pipes.  Spawning early lets the pack import while the caller works.
        """
        if self.process is not None:
            raise PolicyPackError("a PolicyPackProcess can only be spawned once")
        try:
            self._spawn()
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        """Boot the pack the way ``NewPolicyAnalyzer`` and ``installAndLoadPolicyPlugins`` do; clean up on failure."""
        if self._started:
            raise PolicyPackError("a PolicyPackProcess can only be started once")
        self._started = True
        try:
            deadline = time.monotonic() + self.startup_timeout
            if self.process is None:
                self._spawn()
            self.engine.start()
            for pump in self._pumps:
                pump.start()
            self.port = self._read_port(deadline)
            self._connect(deadline)
            if self.stack is not None:
                self.configure_stack(self.stack)
            self._analyzer_info = self.info()
            if self._analyzer_info.supports_config:
                self.configure(self.policy_config)
        except BaseException:
            self.close()
            raise

    def _spawn(self) -> None:
        # The CLI passes "." as the program and sets the working directory to the pack (analyzer_plugin.go).
        command = [self.python, "-u", "-m", "pulumi.policy", self.engine.reserve(), "."]
        environment = {**os.environ, **(self.stack.environment() if self.stack else {}), **self.env}
        # Like cmdutil.RegisterProcessGroup: the pack leads its own group, so shutdown reaches any children.
        group: dict[str, Any] = {"process_group": 0} if os.name == "posix" else {}
        self.process = subprocess.Popen(
            command,
            cwd=self.pack_dir,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **group,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._pumps = [
            threading.Thread(target=self._pump_stdout, args=(self.process.stdout,), name="pack-stdout", daemon=True),
            threading.Thread(target=self._pump_stderr, args=(self.process.stderr,), name="pack-stderr", daemon=True),
        ]

    def _pump_stdout(self, stream: IO[bytes]) -> None:
        """Read the port byte by byte up to the first newline (as the CLI does), then keep draining lines.

        Draining matters: a pack that prints more than a pipe buffer would otherwise block mid-policy.
        """
        first = bytearray()
        try:
            while True:
                byte = stream.read(1)
                if not byte:
                    return
                if byte == b"\n":
                    self._port_line = first.decode("utf-8", "replace")
                    break
                first += byte
        finally:
            self._port_ready.set()
        for raw in iter(stream.readline, b""):
            with self._output_lock:
                self._stdout.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def _pump_stderr(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            with self._output_lock:
                self._stderr.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def _read_port(self, deadline: float) -> int:
        process = self._require_process()
        if not self._port_ready.wait(max(0.0, deadline - time.monotonic())):
            raise PolicyPackStartError(
                f"policy pack {self.pack_dir} did not print its port within {self.startup_timeout:g}s"
                + self._stderr_suffix()
            )
        if self._port_line is None:
            try:
                code: int | None = process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            self._pumps[1].join(timeout=5)
            raise PolicyPackStartError(
                f"policy pack {self.pack_dir} exited (code {code}) before printing its port" + self._stderr_suffix()
            )
        return _parse_port(self._port_line)

    def _connect(self, deadline: float) -> None:
        """``dialPlugin``: wait for the channel, then handshake until the server answers anything but UNAVAILABLE."""
        self._channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=_GRPC_OPTIONS)
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        ready = grpc.channel_ready_future(self._channel)
        while True:  # in short slices, so a pack that dies after printing its port fails fast
            self._check_alive()
            try:
                ready.result(timeout=min(0.25, max(0.0, deadline - time.monotonic())))
                break
            except grpc.FutureTimeoutError:
                if time.monotonic() >= deadline:
                    ready.cancel()
                    raise PolicyPackStartError(
                        f"policy pack {self.pack_dir} did not begin responding to RPC connections"
                        + self._stderr_suffix()
                    ) from None
        request = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=self.engine.address,
            root_directory=str(self.pack_dir),
            program_directory=str(self.pack_dir),
        )
        while True:
            try:
                self._stub.Handshake(request, timeout=max(0.1, deadline - time.monotonic()))
                self.handshake_supported = True
                return
            except grpc.RpcError as error:
                code = error.code()
                if code == grpc.StatusCode.UNIMPLEMENTED:
                    self.handshake_supported = False
                    return
                self._check_alive()
                if code != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise PolicyPackStartError(
                        f"policy pack {self.pack_dir} did not come alive: {code}: {error.details()}"
                        + self._stderr_suffix()
                    ) from error
                time.sleep(0.01)

    def _check_alive(self) -> None:
        code = self._require_process().poll()
        if code is not None:
            self._pumps[1].join(timeout=5)
            raise PolicyPackStartError(f"policy pack {self.pack_dir} exited (code {code})" + self._stderr_suffix())

    def cancel(self) -> bool:
        """Send ``Cancel``; ``False`` if the pack does not implement it (``pulumi_policy`` does not)."""
        if self._stub is None:
            return False
        try:
            self._stub.Cancel(empty_pb2.Empty(), timeout=2)
        except grpc.RpcError as error:
            self.cancel_supported = error.code() != grpc.StatusCode.UNIMPLEMENTED
            return False
        self.cancel_supported = True
        return True

    def close(self) -> None:
        """Cancel, close the channel, stop the pack (SIGINT, then SIGKILL) and the engine server; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._channel is not None and self.process is not None and self.process.poll() is None:
                self.cancel()
        finally:
            try:
                if self._channel is not None:
                    self._channel.close()
            finally:
                try:
                    self._stop_process()
                finally:
                    self.engine.stop()

    def _stop_process(self) -> None:
        process = self.process
        if process is None:
            return
        try:
            if process.poll() is None:
                self.stop_signals.append(signal.SIGINT)
                self._signal(process, signal.SIGINT)
                try:
                    process.wait(timeout=self.shutdown_timeout)
                except subprocess.TimeoutExpired:
                    self.stop_signals.append(signal.SIGKILL)
                    self._signal(process, signal.SIGKILL)
                    process.wait(timeout=10)
        finally:
            # Readers end at EOF once the group is gone; only then is it safe to close their pipes.
            with suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()
            for pump in self._pumps:
                if pump.ident is not None:  # spawned but never started: nobody read the pipes
                    pump.join(timeout=5)
            for stream in (process.stdout, process.stderr):
                with suppress(OSError):
                    if stream is not None:
                        stream.close()

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: int) -> None:
        try:
            if os.name == "posix":
                os.killpg(process.pid, sig)
            elif sig == signal.SIGINT:
                process.terminate()
            else:
                process.kill()
        except ProcessLookupError:
            pass

    # -- output --

    @property
    def engine_address(self) -> str:
        """The engine address passed to the pack."""
        return self.engine.address

    @property
    def pid(self) -> int | None:
        """The pack's process id once started."""
        return self.process.pid if self.process is not None else None

    @property
    def returncode(self) -> int | None:
        """The pack's exit code, or ``None`` while it runs (or before it starts)."""
        return self.process.poll() if self.process is not None else None

    @property
    def stdout(self) -> list[str]:
        """The pack's stdout lines after the port line (the last 10,000)."""
        with self._output_lock:
            return list(self._stdout)

    @property
    def stderr(self) -> list[str]:
        """The pack's stderr lines (the last 10,000); ``pulumi.log`` from a pack lands here."""
        with self._output_lock:
            return list(self._stderr)

    @property
    def engine_logs(self) -> list[LogEntry]:
        """Messages the pack sent to the engine's ``Log`` (none from ``pulumi_policy`` itself)."""
        return self.engine.logs

    def wait_for_output(self, predicate: Callable[[str], bool], timeout: float = 5.0) -> str | None:
        """The first stdout/stderr line matching ``predicate`` within ``timeout`` (output arrives asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.stderr + self.stdout:
                if predicate(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

    def _stderr_suffix(self, lines: int = 40) -> str:
        tail = self.stderr[-lines:]
        return ("\npack stderr:\n" + "\n".join(tail)) if tail else "\n(pack stderr is empty)"

    # -- RPCs --

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise PolicyPackError("the policy pack is not running (use PolicyPackProcess as a context manager)")
        return self.process

    def _call(self, method: str, request: Any) -> Any:
        if self._stub is None or self._closed:
            raise PolicyPackError("the policy pack is not running (use PolicyPackProcess as a context manager)")
        try:
            return getattr(self._stub, method)(request, timeout=self.call_timeout)
        except grpc.RpcError as error:
            raise AnalyzerCallError(
                method, error.code(), error.details() or "", "\n".join(self.stderr[-40:])
            ) from error

    def configure_stack(self, stack: StackContext) -> None:
        """``ConfigureStack``: tell the pack which stack it is analysing (its tags become ``args.stack_tags``)."""
        request = analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack.stack,
            project=stack.project,
            organization=stack.organization,
            dry_run=stack.dry_run,
            config=dict(stack.config),
            config_secret_keys=list(stack.secret_config_keys),
            tags=dict(stack.tags),
        )
        try:
            self._call("ConfigureStack", request)
        except AnalyzerCallError as error:
            if error.code != grpc.StatusCode.UNIMPLEMENTED:
                raise

    def info(self) -> AnalyzerInfo:
        """``GetAnalyzerInfo`` as the CLI reads it (PulumiPolicy.yaml version, policies sorted by name)."""
        response = self._call("GetAnalyzerInfo", empty_pb2.Empty())
        policies = sorted((self._policy_info(policy) for policy in response.policies), key=lambda p: p.name)
        initial = {
            name: PolicyConfig(_LEVEL_FROM_PROTO[config.enforcementLevel], _struct_to_python(config.properties))
            for name, config in response.initialConfig.items()
        }
        return AnalyzerInfo(
            name=response.name,
            display_name=response.displayName,
            version=self.manifest.version or response.version,
            supports_config=response.supportsConfig,
            description=response.description,
            policies=tuple(policies),
            initial_config=initial,
        )

    @staticmethod
    def _policy_info(policy: Any) -> PolicyInfo:
        schema = None
        if policy.HasField("configSchema"):
            schema = ConfigSchema(
                properties=_struct_to_python(policy.configSchema.properties),
                required=tuple(policy.configSchema.required),
            )
        return PolicyInfo(
            name=policy.name,
            display_name=policy.displayName,
            description=policy.description,
            enforcement_level=_LEVEL_FROM_PROTO[policy.enforcementLevel],
            message=policy.message,
            config_schema=schema,
            severity=_SEVERITY_FROM_PROTO.get(policy.severity),
            policy_type=_POLICY_TYPE_FROM_PROTO.get(policy.policy_type),
        )

    def plugin_version(self) -> str:
        """``GetPluginInfo``: the version of the SDK serving the pack (``pulumi_policy``'s, not the pack's)."""
        return str(self._call("GetPluginInfo", empty_pb2.Empty()).version)

    def configure(self, policy_config: Mapping[str, Any], *, reconcile: bool = True) -> dict[str, PolicyConfig]:
        """``Configure`` the pack; returns exactly what was sent.  The pack *replaces* its config with it.

        ``policy_config`` has the ``--policy-pack-config`` shape: ``{"policy": "mandatory"}``,
        ``{"policy": {"enforcementLevel": "mandatory", "prop": 1}}``, ``{"all": "disabled"}``.  With
        ``reconcile`` (the CLI's behaviour) it is merged over every policy's defaults and validated against
        the schemas first (:class:`PolicyConfigError`).  ``reconcile=False`` sends the entries as given, an
        entry without a level going out as the proto3 default, ADVISORY, which the pack applies as an override.
        """
        if reconcile:
            info = self._analyzer_info or self.info()
            config = reconcile_policy_config(info, policy_config)
            errors = validate_policy_config(info, config)
            if errors:
                raise PolicyConfigError(errors)
        else:
            config = parse_policy_config(policy_config)
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, entry in config.items():
            message = request.policyConfig[name]
            message.enforcementLevel = _LEVEL_TO_PROTO[entry.enforcement_level or "advisory"]
            message.properties.update(to_wire(entry.properties, skip_internal_keys=False))
        self._call("Configure", request)
        self.configured = config
        return config

    def _options(self, resource: AnalyzedResource) -> Any:
        options = resource.options
        return analyzer_pb2.AnalyzerResourceOptions(
            protect=options.protect,
            ignoreChanges=list(options.ignore_changes),
            deleteBeforeReplace=bool(options.delete_before_replace),
            deleteBeforeReplaceDefined=options.delete_before_replace is not None,
            additionalSecretOutputs=list(options.additional_secret_outputs),
            aliases=list(options.aliases),
            customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
                create=options.custom_timeouts.create,
                update=options.custom_timeouts.update,
                delete=options.custom_timeouts.delete,
            ),
            parent=resource.parent or "",
        )

    @staticmethod
    def _provider(provider: ProviderInfo | None) -> Any:
        if provider is None:
            return None
        return analyzer_pb2.AnalyzerProviderResource(
            urn=provider.urn, type=provider.type, name=provider.name, properties=to_struct(provider.properties)
        )

    def _analyze_request(self, resource: AnalyzedResource, *, skip_internal_keys: bool = True) -> Any:
        return analyzer_pb2.AnalyzeRequest(
            urn=resource.urn,
            type=resource.type,
            name=resource.name,
            properties=to_struct(resource.properties, skip_internal_keys=skip_internal_keys),
            options=self._options(resource),
            provider=self._provider(resource.provider),
        )

    def _diagnostics(self, response: Any, attribute_to: str | None) -> list[Diagnostic]:
        version = self.manifest.version
        return [
            Diagnostic(
                policy_name=d.policyName,
                pack_name=d.policyPackName,
                pack_version=version or d.policyPackVersion,
                description=d.description,
                message=d.message,
                enforcement_level=_LEVEL_FROM_PROTO[d.enforcementLevel],
                urn=attribute_to if attribute_to is not None else d.urn,
                severity=_SEVERITY_FROM_PROTO.get(d.severity),
                reported_urn=d.urn,
            )
            for d in response.diagnostics
        ]

    def analyze(self, resource: AnalyzedResource) -> list[Diagnostic]:
        """``Analyze`` one resource's inputs; diagnostics are attributed to ``resource.urn`` as the CLI does."""
        return self._diagnostics(self._call("Analyze", self._analyze_request(resource)), resource.urn)

    def remediate(self, resource: AnalyzedResource) -> list[Remediation]:
        """``Remediate`` one resource (internal ``__`` keys are kept here, as in the CLI).

        Only policies configured at the ``remediate`` level run; returned properties carry :class:`Secret`
        where the pack kept a value secret.
        """
        return self._remediations(self._call("Remediate", self._analyze_request(resource, skip_internal_keys=False)))

    def _remediations(self, response: Any) -> list[Remediation]:
        version = self.manifest.version
        return [
            Remediation(
                policy_name=r.policyName,
                pack_name=r.policyPackName,
                pack_version=version or r.policyPackVersion,
                description=r.description,
                properties=_struct_to_python(r.properties) if r.HasField("properties") else None,
                diagnostic=r.diagnostic,
            )
            for r in response.remediations
        ]

    def _remediate_then_analyze(self, resource: AnalyzedResource) -> list[Diagnostic]:
        """The step generator's two passes for one resource: remediations first, then analysis of the result."""
        response = self._call("Remediate", self._analyze_request(resource, skip_internal_keys=False))
        request = self._analyze_request(resource)
        remediated = [r for r in response.remediations if r.HasField("properties")]
        if remediated:
            # The last remediation's properties are the inputs from here on; re-marshal them for Analyze.
            request.properties.Clear()
            request.properties.update(to_wire(json_format.MessageToDict(remediated[-1].properties)))
        return self._diagnostics(self._call("Analyze", request), resource.urn)

    def analyze_many(
        self, resources: Sequence[AnalyzedResource], concurrency: int = 1, *, remediate_first: bool = False
    ) -> list[list[Diagnostic]]:
        """``Analyze`` every resource with at most ``concurrency`` calls in flight; results in input order.

        ``remediate_first`` makes each resource cost what it costs under ``pulumi preview``: ``Remediate``
        and then ``Analyze``.  The first failure stops new calls and is raised once the in-flight ones end.
        Note the Python SDK serves with 4 worker threads and holds the GIL while a policy runs.
        """
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        one = self._remediate_then_analyze if remediate_first else self.analyze
        if concurrency == 1 or len(resources) <= 1:
            return [one(resource) for resource in resources]
        results: list[list[Diagnostic] | None] = [None] * len(resources)
        failures: list[BaseException] = []
        lock = threading.Lock()
        next_index = 0

        def worker() -> None:
            nonlocal next_index
            while True:
                with lock:
                    if failures or next_index >= len(resources):
                        return
                    index = next_index
                    next_index += 1
                try:
                    results[index] = one(resources[index])
                except BaseException as error:  # re-raised in the caller's thread below
                    with lock:
                        failures.append(error)
                    return

        workers = [
            threading.Thread(target=worker, name=f"analyze-{n}", daemon=True)
            for n in range(min(concurrency, len(resources)))
        ]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        if failures:
            raise failures[0]
        return cast(list[list[Diagnostic]], results)

    def analyze_stack(self, resources: Sequence[AnalyzedResource]) -> list[Diagnostic]:
        """``AnalyzeStack`` over the stack's resources (their outputs), with parents and dependencies."""
        request = analyzer_pb2.AnalyzeStackRequest()
        for resource in resources:
            message = request.resources.add(
                urn=resource.urn,
                type=resource.type,
                name=resource.name,
                properties=to_struct(resource.properties),
                options=self._options(resource),
                provider=self._provider(resource.provider),
                parent=resource.parent or "",
                dependencies=list(resource.dependencies),
            )
            for key, urns in resource.property_dependencies.items():
                if urns:  # the CLI skips properties without dependencies
                    message.propertyDependencies[key].urns.extend(urns)
        return self._diagnostics(self._call("AnalyzeStack", request), None)
