"""Where a stack's `pulumi preview` / `pulumi up` runs, and how that runner reaches what the stack manages.

The AWS stacks manage Kubernetes objects on an EKS cluster, so the runner must reach the cluster's API
endpoint from the very first `pulumi up` into an empty account. The chosen path (README, "Deploying for
real"): the stacks are deployed from self-hosted runners with a fixed public egress (the on-prem site's
NAT), and the EKS public endpoint is open only to those named egress CIDRs — never to the world. A
GitHub-hosted runner has no fixed egress address an allowlist could name, so it is refused here.

A test checks the workflow jobs of each stack against ``deployRunner.labels``.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

SELF_HOSTED = "self-hosted"


def _public_egress_cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not an IPv4 CIDR block with host bits zero: {exc}") from None
    if network.prefixlen < 16:
        raise ValueError("wider than a /16: name the runners' egress addresses, not a provider's whole range")
    private = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16")
    if network.is_multicast or any(network.overlaps(ipaddress.IPv4Network(p)) for p in private):
        raise ValueError("must be a public address range (the runners' egress as the EKS endpoint sees it)")
    return str(network)


EgressCidr = Annotated[str, AfterValidator(_public_egress_cidr)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class DeployRunnerConfig(_Model):
    """The GitHub Actions runner that previews and deploys this stack."""

    labels: list[str] = Field(
        min_length=1,
        description="runs-on labels of the deploy and preview jobs of this stack (the workflows must use exactly these).",
    )

    @field_validator("labels")
    @classmethod
    def _unique(cls, labels: list[str]) -> list[str]:
        if len(set(labels)) != len(labels):
            raise ValueError(f"duplicate labels in {labels}")
        if any(not label.strip() for label in labels):
            raise ValueError("labels must not be empty")
        return labels


class AwsDeployRunnerConfig(DeployRunnerConfig):
    """The runner of an AWS stack: self-hosted, with a fixed public egress the EKS endpoint admits."""

    egress_cidrs: list[EgressCidr] = Field(
        min_length=1,
        description="Public egress CIDRs of the runners; the EKS public endpoint admits only these (and "
        "eks.publicAccessCidrs).",
    )

    @field_validator("labels")
    @classmethod
    def _self_hosted(cls, labels: list[str]) -> list[str]:
        if SELF_HOSTED not in labels:
            raise ValueError(
                "must include 'self-hosted': GitHub-hosted runners have no fixed egress address the EKS "
                "endpoint allowlist could name"
            )
        return labels
