"""Derive the data-flow map from the inventory: sites, clusters, GPU capacity, models and the component trees.

Stores are in ``infra.map.stores``, flows in ``infra.map.flows``. Nothing here runs the program: the input is
the inventory ``infra check`` builds (``infra.inventory.inventory``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from infra.map.flows import derive_flows
from infra.map.inventory_view import StackView
from infra.map.model import Capacity, Cluster, ComponentGroup, DataFlowMap, Model, Site
from infra.map.stores import derive_stores

# Custom component types are "<package>:<module>:<Type>" where the package is not a provider's.
_PROVIDER_PACKAGES = ("aws", "kubernetes", "random", "pulumi", "tls", "command")


def build_map(doc: dict[str, Any]) -> DataFlowMap:
    views = [StackView.of(s) for s in doc.get("stacks", [])]
    flow_map = DataFlowMap()
    for view in views:
        flow_map.sites.append(_site(view))
        flow_map.clusters += _clusters(view)
        flow_map.capacity += _capacity(view)
        flow_map.models += _models(view)
        flow_map.stores += derive_stores(view)
        flow_map.components[view.name] = component_groups(view)
    flow_map.flows = derive_flows(views, flow_map)
    return flow_map


def _site(view: StackView) -> Site:
    region = view.region
    if region:
        return Site(view.name, f"{view.name.capitalize()} ({region})", "aws", view.jurisdiction, region)
    return Site(view.name, f"On-prem site ({view.name})", "onprem", view.jurisdiction, None)


def _clusters(view: StackView) -> list[Cluster]:
    found = []
    for r in view.of_type("aws:eks/cluster:Cluster"):
        inputs = r["inputs"]
        key = ((inputs.get("encryptionConfig") or {}).get("provider") or {}).get("keyArn")
        logs = ", ".join(inputs.get("enabledClusterLogTypes") or []) or "none"
        detail = f"Kubernetes {inputs.get('version', '?')}; secrets: {_key_text(key)}; control-plane logs: {logs}"
        found.append(
            Cluster(
                f"{view.name}:cluster:{inputs.get('name', r['name'])}",
                view.name,
                f"EKS {inputs.get('name', r['name'])}",
                detail,
            )
        )
    for r in view.of_type(":OnPremInferenceCluster"):
        namespaces = view.outputs.get("namespaces") or []
        detail = f"namespaces: {', '.join(namespaces)}" if namespaces else ""
        found.append(Cluster(f"{view.name}:cluster:{r['name']}", view.name, f"Kubernetes {r['name']}", detail))
    return found


def _capacity(view: StackView) -> list[Capacity]:
    found = []
    for r in view.of_type("karpenter.sh/v1:NodePool"):
        spec = r["inputs"].get("spec") or {}
        reqs = {
            q["key"]: q.get("values", []) for q in (spec.get("template") or {}).get("spec", {}).get("requirements", [])
        }
        types = ", ".join(reqs.get("node.kubernetes.io/instance-type", [])) or "any type"
        capacity_types = ", ".join(reqs.get("karpenter.sh/capacity-type", []))
        zones = ", ".join(z.rsplit("-", 1)[-1] for z in reqs.get("topology.kubernetes.io/zone", []))
        limit = (spec.get("limits") or {}).get("nvidia.com/gpu", "unlimited")
        name = (r["inputs"].get("metadata") or {}).get("name", r["name"])
        detail = f"{types} {capacity_types}; at most {limit} GPUs; zones {zones}"
        found.append(Capacity(f"{view.name}:nodepool:{name}", view.name, f"Karpenter NodePool {name}", detail))
    for r in view.of_type("aws:eks/nodeGroup:NodeGroup"):
        inputs = r["inputs"]
        scaling = inputs.get("scalingConfig") or {}
        pool = (inputs.get("labels") or {}).get("hybrid-llm-infra/node-pool", r["name"])
        detail = f"{', '.join(inputs.get('instanceTypes') or [])} x{scaling.get('minSize')}-{scaling.get('maxSize')}"
        found.append(Capacity(f"{view.name}:nodegroup:{r['name']}", view.name, f"node group {pool}", detail))
    for r in view.of_type("v1:ResourceQuota"):
        hard = (r["inputs"].get("spec") or {}).get("hard") or {}
        gpus = hard.get("requests.nvidia.com/gpu")
        if gpus is not None:
            namespace = (r["inputs"].get("metadata") or {}).get("namespace", "?")
            label = f"GPU quota {namespace}"
            found.append(Capacity(f"{view.name}:quota:{namespace}", view.name, label, f"{gpus} GPUs (fixed nodes)"))
    return found


def _models(view: StackView) -> list[Model]:
    found = []
    for component in view.of_type(":InferenceService"):
        deployment = next(
            (c for c in view.children(component["urn"]) if c["type"].endswith("apps/v1:Deployment")), None
        )
        if deployment is None:
            continue
        meta = deployment["inputs"].get("metadata") or {}
        container = (
            ((deployment["inputs"].get("spec") or {}).get("template") or {}).get("spec", {}).get("containers", [{}])[0]
        )
        args = container.get("args") or []
        served = (
            args[args.index("--served-model-name") + 1] if "--served-model-name" in args[:-1] else component["name"]
        )
        gpus = ((container.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", "0")
        model_id = f"{view.name}:model:{meta.get('namespace', 'default')}/{meta.get('name', component['name'])}"
        found.append(
            Model(model_id, view.name, component["name"], served, view.classification_for(deployment), str(gpus))
        )
    return found


def component_groups(view: StackView) -> list[ComponentGroup]:
    """Every ComponentResource with its direct resource children counted by type (hundreds of resources: grouped)."""
    components = {r["urn"]: r for r in view.resources if r["type"].split(":", 1)[0] not in _PROVIDER_PACKAGES}
    groups = []
    for urn, r in sorted(components.items(), key=lambda kv: kv[0]):
        counts = Counter(_short_type(c["type"]) for c in view.children(urn) if c["urn"] not in components)
        parent = r.get("parent") if r.get("parent") in components else None
        groups.append(ComponentGroup(urn, r["type"], r["name"], parent, tuple(sorted(counts.items()))))
    return groups


def _short_type(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1]


def _key_text(key_arn: str | None) -> str:
    if not key_arn:
        return "no customer key"
    return f"KMS key {key_arn.rsplit('/', 1)[-1][:8]}"
