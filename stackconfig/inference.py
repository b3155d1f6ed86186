"""Typed config of an LLM inference service (vLLM), reusable by every stack that serves models.

A stack lists its models under a key of its own (on-prem: ``kubernetes.models``; an AWS stack may add
an ``inference`` key using the same model). Each entry is an ``InferenceServiceConfig``; its model weights come
from a ``modelSource`` chosen by ``kind``:

- ``objectStore``: an ``s3://`` URI streamed by vLLM (``--load-format runai_streamer``), optionally from an
  S3-compatible ``endpoint`` with credentials from a Secret;
- ``pvc``: an existing PersistentVolumeClaim mounted read-only;
- ``registry``: an OCI image holding the weights, pulled with an image pull secret and copied into the pod.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from stackconfig.types import Cidr, Classification, DnsLabel

# Self-contained (pydantic + stdlib + residency): stackconfig/models.py imports this module at its top,
# so it must not import stackconfig.models back.


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


# A Kubernetes resource quantity (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/).
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# registry/repository, then :tag, @sha256:digest or both (repo:tag@sha256:...); one of them is required (no
# implicit :latest). A digest pins the content; a tag alone can be moved (production refuses it: stackconfig.loader).
_IMAGE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._/-][a-z0-9]+)*)*"
    r"(?P<tag>:[\w][\w.-]{0,127})?(?P<digest>@sha256:[0-9a-f]{64})?$"
)
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _quantity(value: str) -> str:
    if not _QUANTITY.fullmatch(value):
        raise ValueError("not a Kubernetes quantity (e.g. 500m, 8, 64Gi)")
    return value


def _dns_subdomain(value: str) -> str:
    if not _DNS_SUBDOMAIN.fullmatch(value):
        raise ValueError("must be a DNS subdomain: lowercase letters, digits, '-' and '.', at most 253 characters")
    return value


def _image(value: str) -> str:
    match = _IMAGE.fullmatch(value)
    if not match or not (match["tag"] or match["digest"]):
        raise ValueError(
            "must be an image reference pinned by tag and/or digest "
            "(e.g. vllm/vllm-openai:v0.11.0 or vllm/vllm-openai:v0.11.0@sha256:<64 hex>)"
        )
    if value.endswith(":latest"):
        raise ValueError("':latest' is not a pinned version; name a tag or a digest")
    return value


def has_digest(image: str) -> bool:
    """True when ``image`` names its content by digest (``...@sha256:<64 hex>``), not only by a movable tag."""
    return bool(_DIGEST.search(image))


def _s3_uri(value: str) -> str:
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?", value):
        raise ValueError("must be an s3:// URI (s3://bucket/prefix)")
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]
DnsSubdomain = Annotated[str, AfterValidator(_dns_subdomain)]
Image = Annotated[str, AfterValidator(_image)]
S3Uri = Annotated[str, AfterValidator(_s3_uri)]

# The digest the v0.11.0 tag resolves to: containerd reports it as the Image ID of a pod running
# vllm/vllm-openai:v0.11.0 (https://github.com/vllm-project/vllm/issues/28125); the same digest pins the image in
# several unrelated public Dockerfiles. (sha256:d8d39b59... seen elsewhere is its linux/amd64 manifest.)
DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.11.0@sha256:014a95f21c9edf6abe0aea6b07353f96baa4ec291c427bb1176dc7c93a85845c"
# Engine arguments the platform sets itself or forbids.
FORBIDDEN_VLLM_ARGS = {
    "--enable-log-requests": "prompts may hold personal data and must not be logged",
    "--trust-remote-code": "runs code shipped with the weights",
    "--model": "set by modelSource",
    "--port": "the service port is fixed (8000)",
    "--tensor-parallel-size": "set from gpus",
}


class ObjectStoreSource(_Model):
    """Weights in an S3 (or S3-compatible) bucket, streamed by vLLM at start-up."""

    kind: Literal["objectStore"]
    uri: S3Uri = Field(description="s3://bucket/prefix of the model directory.")
    endpoint: str | None = Field(
        default=None,
        pattern=r"^https://[^\s/]+(/[^\s]*)?$",
        description="S3-compatible endpoint (on-prem object store); unset for AWS S3.",
    )
    credentials_secret: DnsSubdomain | None = Field(
        default=None,
        description=(
            "Secret whose key 'credentials' is an AWS shared-credentials file (INI, a [default] profile with "
            "aws_access_key_id and aws_secret_access_key); mounted read-only, never passed as environment. "
            "Unset when the pod's identity grants access."
        ),
    )


class PvcSource(_Model):
    """Weights on an existing PersistentVolumeClaim in the service's namespace, mounted read-only."""

    kind: Literal["pvc"]
    claim_name: DnsSubdomain = Field(description="Name of the PersistentVolumeClaim.")
    sub_path: str = Field(
        default="", pattern=r"^([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)?$", description="Directory of the model."
    )


class RegistrySource(_Model):
    """Weights packaged in an OCI image, pulled with a pull secret and copied into the pod before vLLM starts."""

    kind: Literal["registry"]
    image: Image = Field(description="Image holding the weights, pinned by tag or digest (a digest in production).")
    pull_secret: DnsSubdomain = Field(description="kubernetes.io/dockerconfigjson Secret for the registry.")
    path: str = Field(
        default="/model", pattern=r"^/[A-Za-z0-9._/-]*$", description="Directory of the weights inside it."
    )
    size_limit: Quantity = Field(default="200Gi", description="Size limit of the emptyDir the weights are copied to.")


MODEL_SOURCE_KINDS = ("objectStore", "pvc", "registry")


def _known_kind(value: object) -> object:
    if isinstance(value, dict) and value.get("kind") not in MODEL_SOURCE_KINDS:
        raise ValueError(
            f"kind {value.get('kind')!r} is not a model source kind; allowed: {', '.join(MODEL_SOURCE_KINDS)}"
        )
    return value


ModelSource = Annotated[
    ObjectStoreSource | PvcSource | RegistrySource, Field(discriminator="kind"), BeforeValidator(_known_kind)
]


class Resources(_Model):
    """CPU and memory of the vLLM container (GPUs are ``gpus``)."""

    cpu_request: Quantity = Field(default="4", description="CPU request.")
    cpu_limit: Quantity = Field(default="8", description="CPU limit.")
    memory_request: Quantity = Field(default="32Gi", description="Memory request.")
    memory_limit: Quantity = Field(default="48Gi", description="Memory limit (also bounds /dev/shm use).")


MAX_STABILIZATION_WINDOW_SECONDS = 3600
"""Kubernetes' limit on an HPA's behavior.scaleDown.stabilizationWindowSeconds (autoscaling validation,
MaxStabilizationWindowSeconds): KEDA's HPA holds replicas between N and 1 for the model's cooldown."""


class Autoscaling(_Model):
    """A KEDA ScaledObject on the model's queue: ``sum(vllm:num_requests_waiting{model_name="<servedModelName>"})``
    read from the cluster's Prometheus; KEDA aims at ``queueThreshold`` waiting requests per replica."""

    min_replicas: int = Field(default=1, ge=0, le=100, description="Fewest replicas (0 is refused: see below).")
    max_replicas: int = Field(default=2, ge=1, le=100, description="Most replicas; GPU quota must cover max x gpus.")
    queue_threshold: float = Field(
        default=5, description="Waiting requests per replica KEDA scales towards (> 0; the trigger's threshold)."
    )
    fallback_replicas: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Replicas KEDA holds while the queue cannot be read (Prometheus down, query failing).",
    )
    polling_interval_seconds: int = Field(default=15, ge=5, le=300, description="How often KEDA reads the queue.")
    cooldown_seconds: int | None = Field(
        default=None,
        ge=60,
        le=3600,
        description="Seconds without load before scaling down; at least startupTimeoutSeconds (default: it).",
    )

    @field_validator("min_replicas")
    @classmethod
    def _no_scale_to_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError(
                "0 (scale to zero) needs an activation signal that exists while no vLLM pod runs: vLLM's own "
                "metrics (vllm:num_requests_waiting) disappear with its pods, and the platform has no gateway "
                "request metric yet; allowed: 1..maxReplicas"
            )
        return value

    @field_validator("queue_threshold")
    @classmethod
    def _positive_threshold(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"must be > 0 (waiting requests per replica); got {value}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) must be <= maxReplicas ({self.max_replicas})")
        if not self.min_replicas <= self.fallback_replicas <= self.max_replicas:
            raise ValueError(
                f"fallbackReplicas ({self.fallback_replicas}) must lie in minReplicas..maxReplicas "
                f"({self.min_replicas}..{self.max_replicas})"
            )
        return self


class EgressRule(_Model):
    """A destination the model's pods may reach besides DNS (e.g. the on-prem object store)."""

    cidr: Cidr
    port: int = Field(default=443, ge=1, le=65535)


class InferenceServiceConfig(_Model):
    """One model served with vLLM's OpenAI-compatible server."""

    name: DnsLabel = Field(description="Service name (DNS label); also the Deployment's and Service's name.")
    served_model_name: str = Field(min_length=1, description="Model name clients send in OpenAI requests.")
    namespace: DnsLabel = Field(default="inference", description="Namespace to deploy into.")
    data_classification: Classification | None = Field(
        default=None, description="Classification of the data this model handles (default: the stack's)."
    )
    model_source: ModelSource
    image: Image = Field(
        default=DEFAULT_VLLM_IMAGE, description="vLLM OpenAI server image, pinned (by digest in production)."
    )
    gpus: int = Field(default=1, ge=1, le=16, description="GPUs per replica (vLLM tensor parallel size).")
    max_model_len: int | None = Field(default=None, ge=256, description="vLLM --max-model-len.")
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1, description="vLLM --gpu-memory-utilization.")
    extra_args: list[str] = Field(default_factory=list, description="More vLLM engine arguments.")

    @field_validator("extra_args")
    @classmethod
    def _no_prompt_logging(cls, value: list[str]) -> list[str]:
        for arg in value:
            if arg.split("=", 1)[0] in FORBIDDEN_VLLM_ARGS:
                raise ValueError(f"{arg} is not allowed: {FORBIDDEN_VLLM_ARGS[arg.split('=', 1)[0]]}")
        return value

    resources: Resources = Field(default_factory=Resources)
    shm_size: Quantity = Field(default="16Gi", description="Size of the memory-backed /dev/shm.")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    client_namespaces: list[DnsLabel] = Field(
        min_length=1, description="Namespaces whose pods may call the service (e.g. the API gateway's)."
    )
    egress: list[EgressRule] = Field(default_factory=list, description="Extra egress beyond DNS.")
    priority_class_name: DnsSubdomain | None = Field(
        default=None, description="PriorityClass of the pods (on-prem default: the cluster's inference class)."
    )
    startup_timeout_seconds: int = Field(
        default=1800, ge=60, le=7200, description="How long model loading may take before the pod is restarted."
    )
    api_key_secret: DnsSubdomain | None = Field(
        default=None, description="Secret whose key 'api-key' vLLM requires as bearer token (VLLM_API_KEY)."
    )

    @model_validator(mode="after")
    def _cooldown_covers_startup(self) -> InferenceServiceConfig:
        cooldown = self.autoscaling.cooldown_seconds
        if cooldown is None and self.startup_timeout_seconds > MAX_STABILIZATION_WINDOW_SECONDS:
            raise ValueError(
                f"startupTimeoutSeconds ({self.startup_timeout_seconds}) is longer than the "
                f"{MAX_STABILIZATION_WINDOW_SECONDS} s the HPA's scale-down stabilization window may hold (Kubernetes "
                "refuses more), so the autoscaler could drop a replica before a new one loads; allowed with "
                f"autoscaling: at most {MAX_STABILIZATION_WINDOW_SECONDS}"
            )
        if cooldown is not None and cooldown < self.startup_timeout_seconds:
            raise ValueError(
                f"autoscaling.cooldownSeconds ({cooldown}) is shorter than startupTimeoutSeconds "
                f"({self.startup_timeout_seconds}): a replica would be dropped before a new one could load; "
                f"allowed: >= {self.startup_timeout_seconds}"
            )
        return self

    @property
    def cooldown_seconds(self) -> int:
        """Seconds without load before KEDA scales down: configured, or the model's start-up time."""
        return self.autoscaling.cooldown_seconds or self.startup_timeout_seconds


def classification_of(model: InferenceServiceConfig, stack_classification: str) -> str:
    """The classification a model's objects are labelled with: its own, or the stack's."""
    return model.data_classification or stack_classification
