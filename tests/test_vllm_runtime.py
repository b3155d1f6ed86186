"""Every InferenceService container of the shipped stacks can start as uid 10001 with a read-only root.

The identity check is real: CPython's own ``getpass.getuser()`` (what torch/_inductor calls when vLLM imports
torch) runs in a process as uid 10001, which has no passwd entry, once with the environment rendered for the
container (it answers) and once without USER/LOGNAME (it raises, as in vllm-project/vllm#44548).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest

from components.inference_service import RUN_AS_UID, InferenceService, InferenceServiceArgs, RegistryModel
from components.vllm_runtime import CREDENTIALS_SECRET_KEY
from stackconfig.inference import ObjectStoreSource
from tests.oracles import unavailable
from tests.stack_runs import shipped_runs

INFERENCE_SERVICE = "hybrid-llm-infra:inference:InferenceService"
# What CPython's getpass.getuser() consults, in order, before pwd.getpwuid() (Lib/getpass.py).
GETUSER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")
# Directories vLLM 0.11 / torch 2.8 / triton 3.4 / flashinfer write to (sources in components/vllm_runtime.py).
VLLM_WRITABLE_DIRS = (
    "HOME",
    "TMPDIR",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "VLLM_CACHE_ROOT",
    "VLLM_CONFIG_ROOT",
    "HF_HOME",
    "TORCHINDUCTOR_CACHE_DIR",
    "TRITON_HOME",
    "TRITON_CACHE_DIR",
    "FLASHINFER_WORKSPACE_BASE",
    "TORCH_EXTENSIONS_DIR",
    "CUDA_CACHE_PATH",
)


def _shipped_pods() -> list[tuple[str, Mapping[str, Any]]]:
    pods = []
    for stack, run in sorted(shipped_runs().items()):
        services = {r.urn for r in run.resources if r.type == INFERENCE_SERVICE}
        for resource in run.resources:
            if resource.parent in services and resource.type == "kubernetes:apps/v1:Deployment":
                pods.append((f"{stack}:{resource.name}", resource.inputs["spec"]["template"]["spec"]))
    return pods


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*(pod.get("initContainers") or []), *pod["containers"]]


def _shipped_containers() -> list[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    return [(f"{name}/{c['name']}", pod, c) for name, pod in _shipped_pods() for c in _containers(pod)]


def _container_params() -> list[Any]:
    return [pytest.param(name, pod, container, id=name) for name, pod, container in _shipped_containers()]


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}


def _writable_dirs(pod: Mapping[str, Any], container: Mapping[str, Any]) -> list[str]:
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    return [
        m["mountPath"] for m in container["volumeMounts"] if m["name"] in empty_dirs and not m.get("readOnly", False)
    ]


def _is_under(path: str, dirs: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def test_the_shipped_stacks_have_inference_containers_on_prem_and_on_aws() -> None:
    names = [name for name, _, _ in _shipped_containers()]
    assert {"onprem:llama-31-8b/vllm", "onprem:qwen25-32b/vllm", "frankfurt:llama-3-1-8b/vllm"} <= set(names)


@pytest.mark.parametrize(("name", "pod", "container"), _container_params())
def test_every_container_knows_its_user_and_has_a_writable_home(
    name: str, pod: Mapping[str, Any], container: Mapping[str, Any]
) -> None:
    env = _env(container)
    assert env.get("USER") and env.get("LOGNAME"), name
    assert env.get("HOME") and _is_under(env["HOME"], _writable_dirs(pod, container)), name
    if container["name"] == "vllm":
        writable = _writable_dirs(pod, container)
        unwritable = {k: env.get(k) for k in VLLM_WRITABLE_DIRS if not (env.get(k) and _is_under(env[k], writable))}
        assert unwritable == {}, name


@cache
def _python_runnable_as_uid() -> str | None:
    """An interpreter uid 10001 may execute (the venv's may live under root's 0700 home)."""
    candidates = [sys.executable, os.path.realpath(sys.executable), "/usr/bin/python3", shutil.which("python3")]
    for candidate in dict.fromkeys(c for c in candidates if c):
        try:
            probe = subprocess.run(
                [candidate, "-I", "-S", "-c", "pass"],
                user=RUN_AS_UID,
                group=RUN_AS_UID,
                extra_groups=[],
                env={},
                cwd="/",
                capture_output=True,
                timeout=60,
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return candidate
    return None


def _getuser_as_uid_10001(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """CPython's getpass.getuser() in a process whose uid is 10001, which has no passwd entry.

    As root, with an interpreter uid 10001 may execute, the process really runs as that uid. Otherwise (not
    root, or no such interpreter: a fresh CI root may be a 0700 directory) the process keeps its uid but
    ``os.getuid`` answers 10001: getuser() reads os.getuid() at call time (Lib/getpass.py), so the same code
    and the same pwd lookup of uid 10001 run either way.
    """
    try:
        pwd.getpwuid(RUN_AS_UID)
    except KeyError:
        pass
    else:
        unavailable("uid-10001 check", f"uid {RUN_AS_UID} has a passwd entry on this machine; the image has none")
    python = _python_runnable_as_uid() if os.geteuid() == 0 else None
    if python is not None:
        return subprocess.run(
            [python, "-I", "-S", "-c", "import getpass; print(getpass.getuser())"],
            user=RUN_AS_UID,
            group=RUN_AS_UID,
            extra_groups=[],
            env=dict(env),
            cwd="/",
            capture_output=True,
            text=True,
            timeout=60,
        )
    code = f"import getpass, os; os.getuid = lambda: {RUN_AS_UID}; print(getpass.getuser())"
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], env=dict(env), capture_output=True, text=True, timeout=60
    )


def _assert_getuser_needs_and_gets_the_env(name: str, env: dict[str, str]) -> None:
    answered = _getuser_as_uid_10001(env)
    assert answered.returncode == 0 and answered.stdout.strip() == env["LOGNAME"], (name, answered.stderr)
    without = {k: v for k, v in env.items() if k not in GETUSER_VARIABLES}
    refused = _getuser_as_uid_10001(without)
    assert refused.returncode != 0, (name, refused.stdout)
    assert f"getpwuid(): uid not found: {RUN_AS_UID}" in refused.stderr, (name, refused.stderr)


@pytest.mark.parametrize(("name", "pod", "container"), _container_params())
def test_getuser_answers_as_uid_10001_only_with_the_rendered_env(
    name: str, pod: Mapping[str, Any], container: Mapping[str, Any]
) -> None:
    _assert_getuser_needs_and_gets_the_env(name, _env(container))


def test_the_weight_copier_init_container_gets_the_same_identity(mock_stack) -> None:
    """No shipped model uses a registry source, so its init container is checked on a component of its own."""
    InferenceService(
        "llm",
        InferenceServiceArgs(
            namespace="inference",
            served_model_name="m",
            model=RegistryModel(image="registry.example.com/models/m:1", pull_secret="pull"),
            client_namespaces=["gateway"],
        ),
    )
    (deployment,) = mock_stack.of_type("kubernetes:apps/v1:Deployment")
    pod = deployment.inputs["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    env = _env(init)
    assert _is_under(env["HOME"], _writable_dirs(pod, init))
    _assert_getuser_needs_and_gets_the_env("initContainers/fetch-model", env)


def _credential_volumes(pod: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}


def test_no_container_env_carries_object_store_credentials() -> None:
    secrets = {s["secretName"] for _, pod in _shipped_pods() for s in _credential_volumes(pod).values()}
    assert secrets == {"model-store-credentials"}  # the on-prem objectStore model's Secret
    for name, _, container in _shipped_containers():
        assert "envFrom" not in container, name
        for entry in container.get("env") or []:
            assert entry["name"] not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), name
            ref = entry.get("valueFrom", {}).get("secretKeyRef", {})
            assert ref.get("name") not in secrets, name


def test_object_store_credentials_are_a_read_only_file_the_env_points_at() -> None:
    checked = []
    for name, pod in _shipped_pods():
        for volume_name, secret in _credential_volumes(pod).items():
            assert secret["items"] == [{"key": CREDENTIALS_SECRET_KEY, "path": CREDENTIALS_SECRET_KEY}], name
            assert int(secret["defaultMode"]) & ~0o440 == 0, (name, oct(int(secret["defaultMode"])))
            (container,) = pod["containers"]
            (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume_name]
            assert mount["readOnly"] is True, name
            assert _env(container)["AWS_SHARED_CREDENTIALS_FILE"] == f"{mount['mountPath']}/{CREDENTIALS_SECRET_KEY}"
            checked.append(name)
    assert checked == ["onprem:qwen25-32b"]


def _clean_aws_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))  # no ~/.aws of the machine running the test
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_boto3_reads_the_documented_secret_from_the_shared_credentials_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """runai-model-streamer resolves S3 credentials with boto3.Session().get_credentials(); this is the Secret's
    documented format, found only through AWS_SHARED_CREDENTIALS_FILE."""
    _clean_aws_env(monkeypatch, tmp_path)
    credentials = tmp_path / CREDENTIALS_SECRET_KEY
    credentials.write_text("[default]\naws_access_key_id = AKIAEXAMPLEKEY000001\naws_secret_access_key = s3cr3t/key\n")
    assert boto3.Session().get_credentials() is None  # control: nothing else supplies credentials here
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    found = boto3.Session().get_credentials()
    assert found is not None and found.method == "shared-credentials-file"
    assert (found.access_key, found.secret_key) == ("AKIAEXAMPLEKEY000001", "s3cr3t/key")


def test_the_config_documents_the_secret_key_the_component_mounts() -> None:
    description = ObjectStoreSource.model_fields["credentials_secret"].description or ""
    assert f"key '{CREDENTIALS_SECRET_KEY}'" in description and "[default]" in description


def test_the_check_holds_where_no_process_can_switch_to_uid_10001(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path a fresh CI root takes (its / is a 0700 directory): same getuser(), uid reported as 10001."""
    monkeypatch.setattr(sys.modules[__name__], "_python_runnable_as_uid", lambda: None)
    _assert_getuser_needs_and_gets_the_env("no-uid-switch", {"USER": "vllm", "LOGNAME": "vllm", "HOME": "/cache"})
