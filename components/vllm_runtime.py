"""What the vLLM image needs from its pod to start as a non-root uid on a read-only root filesystem.

The pods run as uid 10001, which has no ``/etc/passwd`` entry in ``vllm/vllm-openai`` (vLLM 0.11, PyTorch 2.8,
Triton 3.4, Python 3.12), and every path outside the emptyDirs is read-only. So each container is told who it is
(``USER``/``LOGNAME``) and where it may write (``HOME`` and every cache directory the libraries would otherwise
put under ``~`` or ``/tmp/<user>``). Object-store credentials arrive as a read-only file, never as environment.
"""

from __future__ import annotations

import pulumi_kubernetes as k8s

USER_NAME = "vllm"
"""Name given to uid 10001 through the environment (no passwd entry needed)."""
CACHE_DIR = "/cache"
"""Writable emptyDir: HOME and every library cache."""
TMP_DIR = "/tmp"
"""Writable emptyDir: TMPDIR (vLLM's IPC sockets, VLLM_RPC_BASE_PATH defaults to tempfile.gettempdir())."""

CREDENTIALS_SECRET_KEY = "credentials"
"""Key of the object-store Secret: an AWS shared-credentials file (INI, ``[default]`` profile)."""
CREDENTIALS_DIR = "/var/run/secrets/object-store"
CREDENTIALS_FILE = f"{CREDENTIALS_DIR}/{CREDENTIALS_SECRET_KEY}"
CREDENTIALS_FILE_MODE = 0o440
"""Read-only, owner root and group fsGroup (10001): the uid reads it through its group; no one else can."""


def identity_env() -> dict[str, str]:
    """USER, LOGNAME and a writable HOME: what every container needs, init containers included."""
    # CPython getpass.getuser() returns the first of LOGNAME, USER, LNAME, USERNAME that is set and only then asks
    # pwd.getpwuid(), which raises KeyError 'getpwuid(): uid not found' (Lib/getpass.py); torch/_inductor/runtime/
    # cache_dir_utils.py default_cache_dir() calls getuser() when vLLM imports torch (vllm-project/vllm#44548).
    # HOME: os.path.expanduser/pathlib.Path.home read HOME before the passwd entry too.
    return {"USER": USER_NAME, "LOGNAME": USER_NAME, "HOME": CACHE_DIR}


def cache_env() -> dict[str, str]:
    """Every directory vLLM and its libraries write to, on the writable emptyDirs."""
    return {
        **identity_env(),
        "TMPDIR": TMP_DIR,
        # XDG base dirs: vllm/envs.py derives its cache/config roots from them, huggingface_hub its HF_HOME, and
        # libraries that use platformdirs/appdirs their user cache dirs.
        "XDG_CACHE_HOME": CACHE_DIR,
        "XDG_CONFIG_HOME": f"{CACHE_DIR}/config",
        "VLLM_CACHE_ROOT": f"{CACHE_DIR}/vllm",  # vllm/envs.py: default ~/.cache/vllm (torch.compile cache)
        "VLLM_CONFIG_ROOT": f"{CACHE_DIR}/config/vllm",  # vllm/envs.py: default ~/.config/vllm
        "HF_HOME": f"{CACHE_DIR}/huggingface",
        # torch/_inductor/runtime/cache_dir_utils.py: default /tmp/torchinductor_<getuser()>.
        "TORCHINDUCTOR_CACHE_DIR": f"{CACHE_DIR}/torchinductor",
        # triton/knobs.py (3.4): cache, dump and override dirs under $TRITON_HOME/.triton (default ~/.triton).
        "TRITON_HOME": CACHE_DIR,
        "TRITON_CACHE_DIR": f"{CACHE_DIR}/triton",
        # flashinfer/jit/env.py: JIT kernels under $FLASHINFER_WORKSPACE_BASE/.cache/flashinfer (default ~).
        "FLASHINFER_WORKSPACE_BASE": CACHE_DIR,
        # torch/utils/cpp_extension.py: JIT-built extensions (default ~/.cache/torch_extensions).
        "TORCH_EXTENSIONS_DIR": f"{CACHE_DIR}/torch_extensions",
        # CUDA driver's PTX JIT cache (CUDA C++ Programming Guide, "CUDA Environment Variables"; default ~/.nv).
        "CUDA_CACHE_PATH": f"{CACHE_DIR}/nv/ComputeCache",
    }


def writable_volumes(shm_size: str) -> list[k8s.core.v1.VolumeArgs]:
    """The pod's only writable storage: memory-backed /dev/shm, /tmp and /cache."""
    return [
        k8s.core.v1.VolumeArgs(
            name="shm", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit=shm_size)
        ),
        k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="4Gi")),
        k8s.core.v1.VolumeArgs(name="cache", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="20Gi")),
    ]


def home_mounts() -> list[k8s.core.v1.VolumeMountArgs]:
    """HOME and TMPDIR: what a container that only runs a command (the weight copier) needs."""
    return [
        k8s.core.v1.VolumeMountArgs(name="tmp", mount_path=TMP_DIR),
        k8s.core.v1.VolumeMountArgs(name="cache", mount_path=CACHE_DIR),
    ]


def credentials_volume(secret_name: str) -> k8s.core.v1.VolumeArgs:
    """Only the ``credentials`` key of the Secret, as a file; the pod does not start if the key is missing."""
    return k8s.core.v1.VolumeArgs(
        name="object-store-credentials",
        secret=k8s.core.v1.SecretVolumeSourceArgs(
            secret_name=secret_name,
            items=[k8s.core.v1.KeyToPathArgs(key=CREDENTIALS_SECRET_KEY, path=CREDENTIALS_SECRET_KEY)],
            default_mode=CREDENTIALS_FILE_MODE,
            optional=False,
        ),
    )


def credentials_mount() -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(name="object-store-credentials", mount_path=CREDENTIALS_DIR, read_only=True)


def credentials_env() -> dict[str, str]:
    # runai-model-streamer's S3 backend resolves credentials with boto3.Session().get_credentials()
    # (runai_model_streamer_s3/credentials/credentials.py, also for listing and pulling config files) and hands
    # them to its C++ client; botocore reads the shared-credentials file named by AWS_SHARED_CREDENTIALS_FILE
    # (botocore/configprovider.py 'credentials_file'), as does the AWS C++ SDK's default chain.
    return {"AWS_SHARED_CREDENTIALS_FILE": CREDENTIALS_FILE}
