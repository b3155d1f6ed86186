"""A region's public entry: an ACM certificate for the jurisdiction's hostname and an internet-facing NLB.

The NLB (AWS Load Balancer Controller, ``service.k8s.aws/nlb``) listens on 443 only, terminates TLS with the ACM
certificate under a TLS 1.2+ security policy and re-encrypts to the gateway's pods; there is no port 80 listener,
so plain HTTP is refused at the load balancer. ACM certificates cannot be exported, which is why TLS for the
public name ends at the NLB on AWS (on-prem the site's gateway holds its own certificate). README, "The front door".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws_load_balancer_controller import NLB_CLASS
from components.cluster_metrics import pss_labels
from components.network_policies import default_deny_ingress
from components.service_status import load_balancer_ingress

_LBC = "service.beta.kubernetes.io/aws-load-balancer-"
# TLS 1.3 and 1.2 only (Elastic Load Balancing user guide, "Security policies for your Network Load Balancer").
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
HTTPS_PORT = 443


def front_door_namespace(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    previous_parent: pulumi.Input[str] | None = None,
) -> k8s.core.v1.Namespace:
    """The gateway's namespace: Pod Security ``restricted`` (Envoy Gateway's proxies run unprivileged on 10443) and
    deny-all ingress, opened only to the entry by the gateway's own policy. ``previous_parent``: the URN these two
    had as children before (an alias, so a deployed stack keeps them rather than re-creating a live namespace)."""
    if previous_parent is not None:
        moved = pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=previous_parent)])
        opts = pulumi.ResourceOptions.merge(opts, moved)
    created = k8s.core.v1.Namespace(
        f"{name}-ns",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace,
            labels={**labels, **pss_labels("restricted", "restricted")},
        ),
        opts=opts,
    )
    default_deny_ingress(
        f"{name}-default-deny-ingress",
        namespace,
        dict(labels),
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[created])),
    )
    return created


@dataclass(frozen=True)
class FrontDoorEntryArgs:
    zone_id: str
    hostname: str
    namespace: str
    gateway_selector: Mapping[str, str]
    """Labels of the gateway's proxy pods (the NLB's IP targets)."""
    gateway_port: int
    """The port the gateway's pods serve its 443 listener on (TLS)."""
    public_subnet_ids: Sequence[pulumi.Input[str]]
    kubernetes_provider: pulumi.ProviderResource
    labels: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    service_depends_on: Sequence[pulumi.Resource] = ()
    """The namespace, the load-balancer controller and the gateway: pulumi-kubernetes reports a Service ready only
    once pods it selects are ready (provider/pkg/await/service.go), and the gateway's proxies are what it selects,
    so the Service comes after them and nothing that makes them may wait for it."""

    def __post_init__(self) -> None:
        if not self.hostname or self.hostname.startswith("*"):
            raise ValueError(f"hostname {self.hostname!r}: one exact name, no wildcard")
        if not self.public_subnet_ids:
            raise ValueError("an internet-facing NLB needs the public subnets")


class FrontDoorEntry(pulumi.ComponentResource):
    """Certificate (DNS-validated in the public zone) and the NLB Service (its namespace: ``front_door_namespace``)."""

    certificate: aws.acm.Certificate
    validation: aws.acm.CertificateValidation
    service: k8s.core.v1.Service
    load_balancer_hostname: pulumi.Output[str]

    def __init__(self, name: str, args: FrontDoorEntryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:front-door:FrontDoorEntry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=args.hostname,
            validation_method="DNS",
            key_algorithm="EC_prime256v1",
            tags=dict(args.tags),
            opts=child,
        )
        # One CNAME per validation option (one name, so one record); ACM validates once it resolves publicly.
        option = self.certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-cert-validation",
            zone_id=args.zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,  # ACM hands the same token to a re-created certificate
            opts=child,
        )
        self.validation = aws.acm.CertificateValidation(
            f"{name}-cert-validated",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=child,
        )
        subnets = pulumi.Output.all(*args.public_subnet_ids).apply(lambda ids: ",".join(ids))
        self.service = k8s.core.v1.Service(
            f"{name}-nlb",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="front-door",
                namespace=args.namespace,
                labels=dict(args.labels),
                annotations={
                    f"{_LBC}scheme": "internet-facing",
                    f"{_LBC}nlb-target-type": "ip",
                    f"{_LBC}subnets": subnets,
                    # TLS ends here with the ACM certificate; the NLB re-encrypts to the gateway (backend ssl).
                    f"{_LBC}ssl-cert": self.validation.certificate_arn,
                    f"{_LBC}ssl-ports": str(HTTPS_PORT),
                    f"{_LBC}ssl-negotiation-policy": TLS_POLICY,
                    f"{_LBC}backend-protocol": "ssl",
                },
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                load_balancer_class=NLB_CLASS,
                allocate_load_balancer_node_ports=False,
                selector=dict(args.gateway_selector),
                # 443 only: no listener on 80, so plain HTTP is refused at the NLB.
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="https", port=HTTPS_PORT, target_port=args.gateway_port, protocol="TCP"
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.kubernetes_provider,
                depends_on=[self.validation, *args.service_depends_on],
            ),
        )

        def required(status: object) -> str:
            # Set before pulumi-kubernetes reports the Service created (README, "Reaching models across sites").
            hostname = load_balancer_ingress(status, "hostname")
            if not hostname:
                raise ValueError(f"{name}: the front-door Service reports no load-balancer hostname")
            return str(hostname)

        self.load_balancer_hostname = self.service.status.apply(required)
        self.register_outputs(
            {"certificateArn": self.certificate.arn, "loadBalancerHostname": self.load_balancer_hostname}
        )
