"""How a ``helm.v3.Release`` names a chart from an HTTPS repository or an OCI registry."""

from __future__ import annotations

from dataclasses import dataclass

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
