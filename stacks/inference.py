"""Turn a validated InferenceServiceConfig into InferenceServiceArgs (shared by the on-prem and AWS stacks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from components.inference_service import (
    InferenceServiceArgs,
    ModelSourceArgs,
    ObjectStoreModel,
    PvcModel,
    RegistryModel,
    ServiceExposure,
)
from components.model_scaling import Scraper
from residency import TAG_DATA_CLASSIFICATION
from stackconfig.inference import InferenceServiceConfig, ObjectStoreSource, PvcSource


def model_source_args(model: InferenceServiceConfig) -> ModelSourceArgs:
    source = model.model_source
    if isinstance(source, ObjectStoreSource):
        return ObjectStoreModel(uri=source.uri, endpoint=source.endpoint, credentials_secret=source.credentials_secret)
    if isinstance(source, PvcSource):
        return PvcModel(claim_name=source.claim_name, sub_path=source.sub_path)
    return RegistryModel(
        image=source.image, pull_secret=source.pull_secret, path=source.path, size_limit=source.size_limit
    )


def inference_service_args(
    model: InferenceServiceConfig,
    labels: Mapping[str, str],
    *,
    default_priority_class: str | None = None,
    service_account_annotations: Mapping[str, str] | None = None,
    gpu_node_labels: Mapping[str, str] | None = None,
    exposure: ServiceExposure | None = None,
    scraper: Scraper | None = None,
    custom_resources_wait_for: Sequence[pulumi.Resource] = (),
    scrape_interval: str = "15s",
) -> InferenceServiceArgs:
    """``labels`` are the stack's residency labels; the model's own classification (if set) overrides theirs."""
    model_labels = dict(labels)
    if model.data_classification:
        model_labels[TAG_DATA_CLASSIFICATION] = model.data_classification
    extra: dict[str, object] = {}
    if gpu_node_labels is not None:
        extra["gpu_node_labels"] = dict(gpu_node_labels)
    res = model.resources
    scaling = model.autoscaling
    return InferenceServiceArgs(
        namespace=model.namespace,
        served_model_name=model.served_model_name,
        model=model_source_args(model),
        client_namespaces=list(model.client_namespaces),
        labels=model_labels,
        image=model.image,
        gpus=model.gpus,
        max_model_len=model.max_model_len,
        gpu_memory_utilization=model.gpu_memory_utilization,
        extra_args=list(model.extra_args),
        cpu_request=res.cpu_request,
        cpu_limit=res.cpu_limit,
        memory_request=res.memory_request,
        memory_limit=res.memory_limit,
        shm_size=model.shm_size,
        min_replicas=scaling.min_replicas,
        max_replicas=scaling.max_replicas,
        queue_threshold=scaling.queue_threshold,
        fallback_replicas=scaling.fallback_replicas,
        polling_interval_seconds=scaling.polling_interval_seconds,
        cooldown_seconds=model.cooldown_seconds,
        scraper=scraper,
        custom_resources_wait_for=list(custom_resources_wait_for),
        scrape_interval=scrape_interval,
        egress=[(rule.cidr, rule.port) for rule in model.egress],
        priority_class_name=model.priority_class_name or default_priority_class,
        startup_timeout_seconds=model.startup_timeout_seconds,
        api_key_secret=model.api_key_secret,
        service_account_annotations=dict(service_account_annotations or {}),
        exposure=exposure,
        **extra,  # type: ignore[arg-type]
    )
