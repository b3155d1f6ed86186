"""The NLB-to-gateway certificate (components/backend_certificate.py) under the mock engine, and the offline tls
mocks it runs on (infra/mock_tls.py): the inputs pulumi-tls is given, the kubernetes.io/tls Secret, the key kept
secret end to end, and a mock key pair and certificate that are real and the same on every run."""

from __future__ import annotations

import ast
import datetime
import inspect
import re
from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from components.backend_certificate import (
    DEFAULT_EARLY_RENEWAL_HOURS,
    DEFAULT_VALIDITY_HOURS,
    BackendCertificate,
    BackendCertificateArgs,
    secret_name_for,
)
from infra import mock_tls
from infra.mocks import CapturedResource
from infra.project import load_project
from residency.kubernetes_manifests import manifest_from_inputs
from stackconfig import AwsStackConfig, parse_stack_config
from tests.stack_runs import ROOT

KEY = "tls:index/privateKey:PrivateKey"
CERT = "tls:index/selfSignedCert:SelfSignedCert"
SECRET = "kubernetes:core/v1:Secret"
SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
HOSTNAME = "api.eu.example.com"


def _args(**overrides: Any) -> BackendCertificateArgs:
    base: dict[str, Any] = dict(
        common_name=HOSTNAME,
        dns_names=[HOSTNAME],
        namespace="front-door",
        secret_name="front-door-backend-tls",
        kubernetes_provider=k8s.Provider("cluster", context="ctx"),
        labels={"data-residency": "eu"},
    )
    return BackendCertificateArgs(**(base | overrides))


def _component(name: str = "backend") -> BackendCertificate:
    return BackendCertificate(name, _args(), pulumi.ResourceOptions())


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def _plain_strings(value: Any) -> list[str]:
    """Every string in a wire-form value that is not inside a secret."""
    if _is_secret(value):
        return []
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_plain_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _plain_strings(v)]
    return [value] if isinstance(value, str) else []


def _aws_kubernetes_versions() -> set[str]:
    project = load_project(ROOT)
    versions = set()
    for stack in project.stack_names():
        config = parse_stack_config(project.stack(stack).config)
        if isinstance(config, AwsStackConfig):
            versions.add(str(config.eks.kubernetes_version))
    assert versions, "no AWS stack to take the EKS version from"
    return versions


def test_pulumi_tls_is_asked_for_a_p256_server_certificate_with_a_renewal_window(mock_stack: Any) -> None:
    _component()
    key = mock_stack.named(KEY, "backend-key")
    assert key.inputs == {"algorithm": "ECDSA", "ecdsaCurve": "P256"}
    cert = mock_stack.named(CERT, "backend-cert").inputs
    assert cert["allowedUses"] == ["digital_signature", "server_auth"]
    assert "key_encipherment" not in cert["allowedUses"]  # RFC 8813: never on an EC key
    assert cert["subject"] == {"commonName": HOSTNAME}
    assert cert["dnsNames"] == [HOSTNAME]
    assert cert["validityPeriodHours"] == DEFAULT_VALIDITY_HOURS == 17520
    assert cert["earlyRenewalHours"] == DEFAULT_EARLY_RENEWAL_HOURS == 8760
    assert _is_secret(cert["privateKeyPem"])
    parents = {r.parent for r in mock_stack.capture.resources.values() if r.type in (KEY, CERT, SECRET)}
    [component_resource] = mock_stack.of_type("hybrid-llm-infra:front-door:BackendCertificate")
    assert parents == {component_resource.urn}


def test_the_secret_is_a_tls_secret_named_after_its_certificate_and_valid_for_the_clusters(mock_stack: Any) -> None:
    component = _component()
    cert_pem = mock_stack.resolve(component.certificate.cert_pem)
    secret = mock_stack.named(SECRET, "backend-secret")
    assert _is_secret(secret.inputs["stringData"])  # the wire form the engine (and state) gets
    manifest = manifest_from_inputs(secret.type, secret.inputs)
    assert manifest is not None
    assert manifest["type"] == "kubernetes.io/tls"
    assert manifest["metadata"]["namespace"] == "front-door"
    assert manifest["metadata"]["labels"] == {"data-residency": "eu"}
    assert set(manifest["stringData"]) == {"tls.crt", "tls.key"}
    assert manifest["stringData"]["tls.crt"] == cert_pem
    # A new certificate is a new name: created before the Gateway moves to it, the old one deleted after.
    name = manifest["metadata"]["name"]
    assert name == secret_name_for("front-door-backend-tls", cert_pem) == mock_stack.resolve(component.secret_name)
    assert name != secret_name_for("front-door-backend-tls", cert_pem.replace("A", "B", 1))
    for version in sorted(_aws_kubernetes_versions()):
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_private_key_is_never_plain_in_what_the_engine_sees(mock_stack: Any) -> None:
    component = _component()
    key_pem = mock_stack.resolve(component.private_key.private_key_pem)
    assert mock_stack.is_secret(component.private_key.private_key_pem)
    assert not mock_stack.is_secret(component.secret_name)  # a name, not the key
    resources = list(mock_stack.capture.resources.values())
    body = "".join(key_pem.strip().splitlines()[1:-1])
    for resource in resources:
        for text in _plain_strings(resource.inputs):
            assert body[:40] not in text.replace("\n", ""), f"{resource.urn}: the private key in plain"
    # ... and it is there, inside the Secret's secret data, so the check above looked at the right thing.
    secret = mock_stack.named(SECRET, "backend-secret")
    assert secret.inputs["stringData"]["value"]["tls.key"] == key_pem


def test_the_mock_certificate_is_real_and_belongs_to_the_mock_key(mock_stack: Any) -> None:
    component = _component()
    key_pem = mock_stack.resolve(component.private_key.private_key_pem)
    certificate = x509.load_pem_x509_certificate(mock_stack.resolve(component.certificate.cert_pem).encode())
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert key_pem.startswith("-----BEGIN EC PRIVATE KEY-----")  # SEC 1, as the provider writes it
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.public_numbers() == key.public_key().public_numbers()
    certificate.verify_directly_issued_by(certificate)  # self-signed: the signature checks with its own key
    assert certificate.subject.rfc4514_string() == f"CN={HOSTNAME}" == certificate.issuer.rfc4514_string()
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [HOSTNAME]
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_encipherment
    assert list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime == datetime.timedelta(hours=DEFAULT_VALIDITY_HOURS)
    end = mock_stack.resolve(component.expires_at)
    assert end == certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_mock_key_outputs_are_the_same_key_in_every_format() -> None:
    outputs = mock_tls.private_key("seed", {"algorithm": "ECDSA", "ecdsaCurve": "P256"})
    sec1 = serialization.load_pem_private_key(outputs["privateKeyPem"].encode(), password=None)
    pkcs8 = serialization.load_pem_private_key(outputs["privateKeyPemPkcs8"].encode(), password=None)
    openssh = serialization.load_ssh_private_key(outputs["privateKeyOpenssh"].encode(), password=None)
    public = serialization.load_pem_public_key(outputs["publicKeyPem"].encode())
    authorized = serialization.load_ssh_public_key(outputs["publicKeyOpenssh"].encode())
    numbers = {
        k.private_numbers().private_value  # type: ignore[union-attr]
        for k in (sec1, pkcs8, openssh)
    }
    assert len(numbers) == 1
    assert public.public_numbers() == authorized.public_numbers() == sec1.public_key().public_numbers()  # type: ignore[union-attr]
    assert outputs["publicKeyFingerprintSha256"].startswith("SHA256:")
    assert len(outputs["publicKeyFingerprintMd5"].split(":")) == 16
    # What the SDK marks secret (additional_secret_outputs in PrivateKey._internal_init) is what the mock marks.
    sdk_marks = re.search(r"additional_secret_outputs=(\[[^\]]*\])", inspect.getsource(tls.PrivateKey._internal_init))
    assert sdk_marks is not None
    assert set(ast.literal_eval(sdk_marks.group(1))) == mock_tls.SECRET_KEY_OUTPUTS
    assert {k for k in outputs if k.startswith("privateKey")} == mock_tls.SECRET_KEY_OUTPUTS
    # P-224 has no OpenSSH form (x/crypto/ssh), so the provider leaves those outputs empty.
    p224 = mock_tls.private_key("seed", {"algorithm": "ECDSA"})
    assert p224["ecdsaCurve"] == "P224" and p224["privateKeyOpenssh"] == p224["publicKeyOpenssh"] == ""


def test_two_runs_register_the_same_key_and_certificate(pulumi_mocks_factory: Any) -> None:
    seen = []
    for _ in range(2):
        stack = pulumi_mocks_factory()
        _component()
        secret: CapturedResource = stack.named(SECRET, "backend-secret")
        seen.append((secret.inputs["metadata"]["name"], secret.inputs["stringData"]))
    assert seen[0] == seen[1]
    # ... and a differently named resource gets a key of its own.
    other = mock_tls.private_key(f"{KEY}\x00other-key", {"algorithm": "ECDSA", "ecdsaCurve": "P256"})
    assert other["privateKeyPem"] != seen[0][1]["value"]["tls.key"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"algorithm": "RSA", "rsaBits": 4096}, "only ECDSA"),
        ({"algorithm": "ECDSA", "ecdsaCurve": "P192"}, "P192"),
    ],
)
def test_the_mock_refuses_keys_it_does_not_model(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(mock_tls.UnsupportedInputError, match=message):
        mock_tls.private_key("seed", inputs)


@pytest.mark.parametrize(
    "overrides",
    [
        {"early_renewal_hours": DEFAULT_VALIDITY_HOURS},
        {"early_renewal_hours": 0},
        {"secret_name": "Front_Door"},
        {"dns_names": []},
    ],
)
def test_the_args_refuse_what_would_not_work(overrides: dict[str, Any], mock_stack: Any) -> None:
    with pytest.raises(ValueError):
        _args(**overrides)
    mock_stack.settle()  # the provider in the args was registered all the same
