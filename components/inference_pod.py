"""The vLLM pod of an InferenceService: arguments, environment, volumes, probes, GPU scheduling, Pod Security
"restricted"."""

from __future__ import annotations

import pulumi_kubernetes as k8s

from components import vllm_runtime
from components.inference_args import (
    GPU_RESOURCE,
    MODEL_DIR,
    PORT,
    RUN_AS_UID,
    InferenceServiceArgs,
    ObjectStoreModel,
    PvcModel,
    RegistryModel,
)


def _restricted_security_context() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS_UID,
        run_as_group=RUN_AS_UID,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def _model_location(args: InferenceServiceArgs) -> str:
    model = args.model
    if isinstance(model, ObjectStoreModel):
        return model.uri
    if isinstance(model, PvcModel):
        return f"{MODEL_DIR}/{model.sub_path}".rstrip("/")
    return MODEL_DIR


def vllm_args(args: InferenceServiceArgs) -> list[str]:
    """Arguments of ``python3 -m vllm.entrypoints.openai.api_server``."""
    argv = [
        "--model",
        _model_location(args),
        "--served-model-name",
        args.served_model_name,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--tensor-parallel-size",
        str(args.gpus),
        "--gpu-memory-utilization",
        str(args.gpu_memory_utilization),
    ]
    # Request logging is off by default in vLLM >= 0.10 and stays off: prompts may hold personal data.
    if isinstance(args.model, ObjectStoreModel):
        argv += ["--load-format", "runai_streamer"]
    if args.max_model_len is not None:
        argv += ["--max-model-len", str(args.max_model_len)]
    return argv + list(args.extra_args)


def _env(args: InferenceServiceArgs) -> list[k8s.core.v1.EnvVarArgs]:
    env = {
        # uid 10001 has no passwd entry and the root filesystem is read-only: identity and caches (vllm_runtime).
        **vllm_runtime.cache_env(),
        # Weights come from the configured source only; no calls home.
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    if isinstance(args.model, ObjectStoreModel) and args.model.endpoint:
        env["AWS_ENDPOINT_URL"] = args.model.endpoint
        env["RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING"] = "0"
    if isinstance(args.model, ObjectStoreModel) and args.model.region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = args.model.region
    if isinstance(args.model, ObjectStoreModel) and args.model.credentials_secret:
        env.update(vllm_runtime.credentials_env())
    result = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()]
    if args.api_key_secret:
        result.append(
            k8s.core.v1.EnvVarArgs(
                name="VLLM_API_KEY",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=args.api_key_secret, key="api-key")
                ),
            )
        )
    return result


def pod_spec(name: str, args: InferenceServiceArgs) -> k8s.core.v1.PodSpecArgs:
    """The vLLM pod: GPU limits, GPU toleration and affinity, PSS restricted, writable emptyDirs only."""
    model = args.model
    volumes = vllm_runtime.writable_volumes(args.shm_size)
    mounts = [k8s.core.v1.VolumeMountArgs(name="shm", mount_path="/dev/shm"), *vllm_runtime.home_mounts()]
    init_containers = None
    pull_secrets = None
    if isinstance(model, PvcModel):
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="model",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=model.claim_name, read_only=True
                ),
            )
        )
        mounts.append(k8s.core.v1.VolumeMountArgs(name="model", mount_path=MODEL_DIR, read_only=True))
    elif isinstance(model, RegistryModel):
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="model", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=model.size_limit)
            )
        )
        mounts.append(k8s.core.v1.VolumeMountArgs(name="model", mount_path=MODEL_DIR, read_only=True))
        pull_secrets = [k8s.core.v1.LocalObjectReferenceArgs(name=model.pull_secret)]
        init_containers = [
            k8s.core.v1.ContainerArgs(
                name="fetch-model",
                image=model.image,
                image_pull_policy="IfNotPresent",
                command=["cp", "-R", f"{model.path.rstrip('/')}/.", f"{MODEL_DIR}/"],
                # Same uid without a passwd entry: told who it is and given a writable HOME like the server.
                env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in vllm_runtime.identity_env().items()],
                security_context=_restricted_security_context(),
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests={"cpu": "500m", "memory": "512Mi"}, limits={"cpu": "2", "memory": "1Gi"}
                ),
                volume_mounts=[
                    k8s.core.v1.VolumeMountArgs(name="model", mount_path=MODEL_DIR),
                    *vllm_runtime.home_mounts(),
                ],
            )
        ]
    elif model.credentials_secret:
        # A file, not env: every child process inherits the environment (and logs/dumps of it); a file is read on demand.
        volumes.append(vllm_runtime.credentials_volume(model.credentials_secret))
        mounts.append(vllm_runtime.credentials_mount())

    gpus = str(args.gpus)
    probe_get = k8s.core.v1.HTTPGetActionArgs(path="/health", port="http")
    container = k8s.core.v1.ContainerArgs(
        name="vllm",
        image=args.image,
        image_pull_policy="IfNotPresent",
        command=["python3", "-m", "vllm.entrypoints.openai.api_server"],
        args=vllm_args(args),
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT, protocol="TCP")],
        env=_env(args),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": args.cpu_request, "memory": args.memory_request, GPU_RESOURCE: gpus},
            limits={"cpu": args.cpu_limit, "memory": args.memory_limit, GPU_RESOURCE: gpus},
        ),
        startup_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_get,
            period_seconds=10,
            timeout_seconds=5,
            failure_threshold=max(1, args.startup_timeout_seconds // 10),
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_get, period_seconds=10, timeout_seconds=5, failure_threshold=3
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_get, period_seconds=20, timeout_seconds=10, failure_threshold=3
        ),
        security_context=_restricted_security_context(),
        volume_mounts=mounts,
    )
    taint_key, taint_value, taint_effect = args.gpu_taint
    return k8s.core.v1.PodSpecArgs(
        service_account_name=name,
        automount_service_account_token=False,
        priority_class_name=args.priority_class_name,
        enable_service_links=False,
        termination_grace_period_seconds=60,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=RUN_AS_UID,
            run_as_group=RUN_AS_UID,
            fs_group=RUN_AS_UID,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        image_pull_secrets=pull_secrets,
        init_containers=init_containers,
        containers=[container],
        volumes=volumes,
        tolerations=[
            k8s.core.v1.TolerationArgs(key=taint_key, operator="Equal", value=taint_value, effect=taint_effect)
        ],
        affinity=k8s.core.v1.AffinityArgs(
            node_affinity=k8s.core.v1.NodeAffinityArgs(
                required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                    node_selector_terms=[
                        k8s.core.v1.NodeSelectorTermArgs(
                            match_expressions=[
                                k8s.core.v1.NodeSelectorRequirementArgs(key=key, operator="In", values=[value])
                                for key, value in sorted(args.gpu_node_labels.items())
                            ]
                        )
                    ]
                )
            )
        ),
    )
