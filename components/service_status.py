"""What a LoadBalancer Service's status says about its load balancer."""

from __future__ import annotations


def load_balancer_ingress(status: object, *fields: str) -> str | None:
    """``status.loadBalancer.ingress[0]``'s first set field of ``fields`` (e.g. ``ip``, ``hostname``), or None.

    pulumi-kubernetes reports a LoadBalancer Service created only once its ingress is set; a preview leaves it
    unknown."""
    balancer = getattr(status, "load_balancer", None) if status is not None else None
    ingress = getattr(balancer, "ingress", None) or []
    if not ingress:
        return None
    found = next((getattr(ingress[0], f, None) for f in fields if getattr(ingress[0], f, None)), None)
    return str(found) if found else None
