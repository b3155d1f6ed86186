"""The certificate of the hop from the front-door NLB to the gateway's proxies, made by the stack (pulumi-tls).

The NLB re-encrypts to its TLS targets and does not validate their certificates (ELB docs, Network Load Balancer
target groups: "The load balancer does not validate these certificates", self-signed and expired ones included), so
a key and self-signed certificate generated in the stack take the place of the Secret that had to exist before
``pulumi up``. Envoy Gateway does check the dates: a listener whose Secret holds an expired or not yet valid
certificate is refused (internal/gatewayapi/tls.go, ``validateCertificates``), so it has to be renewed in time.

Renewal: terraform-provider-tls re-issues a certificate past ``validity_end_time - early_renewal_hours`` when the
plan reads it (``ready_for_renewal``), but under Pulumi that does not happen on a plain ``pulumi up``
(pulumi/pulumi-tls#39, open): the way is ``pulumi up --replace <the SelfSignedCert's URN>``, which also updates the
Secret and the Gateway that depend on it (``--target-replace`` would update the certificate alone; README, "The
front door"). The proxies report each listener certificate's expiry and the front-door alerts
(components/slo_rules.py) warn at 30 days and page at 7, hence a long validity.

The Secret is named ``<secret_name>-<8 hex of the certificate>``: pulumi-kubernetes replaces a Secret whose data
changes (unless the provider sets ``enableSecretMutable``) and, for an object keeping its explicit name, deletes
the old one first (provider ``Diff``: ``deleteBeforeReplace``), which would leave the listener without its Secret.
A new certificate gives a new name, so the new Secret exists before the Gateway is pointed at it and the old one
goes after.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

TYPE = "hybrid-llm-infra:front-door:BackendCertificate"
DEFAULT_VALIDITY_HOURS = 2 * 365 * 24
DEFAULT_EARLY_RENEWAL_HOURS = 365 * 24
"""What ``readyForRenewal`` reports after a year; the replacement itself is a ``pulumi up --replace`` (see the
module doc). Nobody validates the certificate, so a shorter life buys nothing but more renewals to miss."""
ALLOWED_USES = ("digital_signature", "server_auth")
"""A TLS server key that signs the handshake (ECDHE_ECDSA, TLS 1.3). No key_encipherment: that is RSA key transport,
and RFC 8813 says it MUST NOT be set for an EC key."""
NAME_SUFFIX_CHARS = 8
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class BackendCertificateArgs:
    common_name: str
    dns_names: Sequence[str]
    """Names in the certificate (the public hostname; nobody checks them: the NLB does not validate targets, and
    Envoy Gateway allows an SNI/SAN mismatch, internal/gatewayapi/tls.go)."""
    namespace: str
    """The Gateway's namespace (a listener's certificateRefs name a Secret there without a ReferenceGrant)."""
    secret_name: str
    """Base name of the ``kubernetes.io/tls`` Secret; the certificate's hash is appended (see the module doc)."""
    kubernetes_provider: pulumi.ProviderResource
    labels: Mapping[str, str] = field(default_factory=dict)
    validity_hours: int = DEFAULT_VALIDITY_HOURS
    early_renewal_hours: int = DEFAULT_EARLY_RENEWAL_HOURS
    depends_on: Sequence[pulumi.Resource] = ()
    """What the Secret waits for (the namespace)."""

    def __post_init__(self) -> None:
        if not self.common_name or not self.dns_names:
            raise ValueError("a common name and at least one DNS name")
        if not 0 < self.early_renewal_hours < self.validity_hours:
            raise ValueError(
                f"early renewal {self.early_renewal_hours} h: more than 0 and less than the validity "
                f"({self.validity_hours} h), or every `pulumi up` would (or none could) re-issue it"
            )
        name_length = len(self.secret_name) + 1 + NAME_SUFFIX_CHARS
        if not _DNS_SUBDOMAIN.match(self.secret_name) or name_length > 253:
            raise ValueError(f"secret name {self.secret_name!r}: a DNS subdomain of at most 244 characters")


def secret_name_for(base: str, certificate_pem: str) -> str:
    return f"{base}-{hashlib.sha256(certificate_pem.encode()).hexdigest()[:NAME_SUFFIX_CHARS]}"


class BackendCertificate(pulumi.ComponentResource):
    """An ECDSA P-256 key, a self-signed server certificate, and the ``kubernetes.io/tls`` Secret holding both."""

    private_key: tls.PrivateKey
    certificate: tls.SelfSignedCert
    secret: k8s.core.v1.Secret
    secret_name: pulumi.Output[str]
    """For the Gateway listener's ``certificateRefs``."""
    expires_at: pulumi.Output[str]

    def __init__(self, name: str, args: BackendCertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The curve is explicit: the provider's default is P224, which TLS 1.3 does not offer.
        self.private_key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        self.certificate = tls.SelfSignedCert(
            f"{name}-cert",
            private_key_pem=self.private_key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=args.common_name),
            dns_names=list(args.dns_names),
            allowed_uses=list(ALLOWED_USES),
            validity_period_hours=args.validity_hours,
            early_renewal_hours=args.early_renewal_hours,
            opts=child,
        )
        named = self.certificate.cert_pem.apply(lambda pem: secret_name_for(args.secret_name, pem))
        self.secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=named, namespace=args.namespace, labels=dict(args.labels)),
            type="kubernetes.io/tls",
            # The key stays the secret Output pulumi-tls returns; the SDK marks all of string_data secret too.
            string_data={"tls.crt": self.certificate.cert_pem, "tls.key": self.private_key.private_key_pem},
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.kubernetes_provider, depends_on=list(args.depends_on)
            ),
        )
        # Read back from the Secret, so whatever names it (the Gateway listener) waits until the Secret exists.
        self.secret_name = self.secret.metadata.apply(lambda m: m.name)
        self.expires_at = self.certificate.validity_end_time
        self.register_outputs({"secretName": self.secret_name, "expiresAt": self.expires_at})
