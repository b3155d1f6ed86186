"""How a ``helm.v3.Release`` names a chart from an HTTPS repository or an OCI registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.helm import v3 as helm_v3


@dataclass(frozen=True)
class HelmChart:
    """A pinned chart: ``repository`` is an https:// chart repository or an oci:// registry path."""

    repository: str
    chart: str
    version: str


def chart_source(repository: str, chart: str) -> tuple[str, helm_v3.RepositoryOptsArgs | None]:
    """(chart, repository_opts) for ``helm.v3.Release``.

    Helm cannot ``repo add`` an OCI registry: an OCI chart is named by its full reference in ``chart`` and
    takes no repository options (Helm docs, "Use OCI-based registries"; pulumi-kubernetes Release ``chart``).
    """
    if repository.startswith("oci://"):
        return f"{repository.rstrip('/')}/{chart}", None
    return chart, helm_v3.RepositoryOptsArgs(repo=repository)


def pinned_release(
    resource_name: str,
    *,
    release_name: str,
    source: HelmChart,
    namespace: pulumi.Input[str],
    values: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
    timeout: int = 600,
    skip_crds: bool = False,
) -> helm_v3.Release:
    """A Helm release of a pinned chart, the way every release here is made: atomic (a failed install or upgrade
    rolls back), its failed resources cleaned up, bounded history, into a namespace the stack created itself."""
    chart, repository_opts = chart_source(source.repository, source.chart)
    return helm_v3.Release(
        resource_name,
        name=release_name,
        chart=chart,
        version=source.version,
        repository_opts=repository_opts,
        namespace=namespace,
        create_namespace=False,
        values=dict(values),
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout,
        max_history=10,
        skip_crds=skip_crds,
        opts=opts,
    )
