"""Offline answers for pulumi-tls resources: a real key pair and a real self-signed certificate, deterministic.

The same artefacts the provider makes (terraform-provider-tls, internal/provider: resource_private_key.go,
common_key.go, resource_self_signed_cert.go, common_cert.go), with its randomness replaced so that two runs of
``infra check`` register the same PEMs (the inventory fingerprints secrets; ``infra diff`` must see no change): the
key derives from a hash of the resource's type and name, the certificate's serial from the same hash, its validity
starts at ``ISSUED_AT`` (the provider takes the current time), and its ECDSA signature is RFC 6979's deterministic
one. Only ECDSA keys are modelled; anything else is refused (``UnsupportedInputError``) rather than answered
wrongly.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ISSUED_AT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
"""Start of every offline certificate's validity (fixed, so the certificate is the same on every run)."""

SECRET_KEY_OUTPUTS = frozenset({"privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"})
"""What pulumi_tls.PrivateKey marks secret (its additional_secret_outputs)."""

# Curve name -> (curve, OpenSSH identifier or None, signature hash the provider's Go x509 picks for it).
# x/crypto/ssh has no P-224, so the provider leaves the OpenSSH outputs empty for it (common_key.go).
_CURVES: dict[str, tuple[ec.EllipticCurve, str | None, hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "P224": (ec.SECP224R1(), None, hashes.SHA256()),
    "P256": (ec.SECP256R1(), "nistp256", hashes.SHA256()),
    "P384": (ec.SECP384R1(), "nistp384", hashes.SHA384()),
    "P521": (ec.SECP521R1(), "nistp521", hashes.SHA512()),
}
_DEFAULT_CURVE = "P224"  # the provider's default ecdsa_curve

_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "cert_signing",
    "crl_signing",
    "encipher_only",
    "decipher_only",
)
_EXTENDED_KEY_USAGES = {
    "any_extended": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}
# Go's pkix.Name.ToRDNSequence order.
_SUBJECT = (
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("streetAddresses", NameOID.STREET_ADDRESS),
    ("postalCode", NameOID.POSTAL_CODE),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("commonName", NameOID.COMMON_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
)
_NOT_MODELLED = ("privateKeyPemWo", "setAuthorityKeyId", "maxPathLength")


class UnsupportedInputError(Exception):
    """Inputs this offline model does not answer (the caller turns it into an OfflineError)."""


def _digest(seed: str, purpose: str, size: int) -> bytes:
    return hashlib.shake_256(f"{seed}\x00{purpose}".encode()).digest(size)


def private_key(seed: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs of ``tls:index/privateKey:PrivateKey`` (plain values; SECRET_KEY_OUTPUTS are the secret ones)."""
    algorithm = str(inputs.get("algorithm") or "")
    if algorithm != "ECDSA":
        raise UnsupportedInputError(f"algorithm {algorithm!r}: only ECDSA keys are modelled offline")
    curve_name = str(inputs.get("ecdsaCurve") or _DEFAULT_CURVE)
    if curve_name not in _CURVES:
        raise UnsupportedInputError(f"ecdsa_curve {curve_name!r}: the provider knows {sorted(_CURVES)}")
    curve, ssh_curve, _ = _CURVES[curve_name]
    # Below 2**(bits-1), so always inside [1, n-1] for the NIST curves (their orders exceed 2**(bits-1)).
    bits = curve.key_size
    scalar = int.from_bytes(_digest(seed, "ecdsa", (bits + 7) // 8), "big") % (2 ** (bits - 1)) + 1
    key = ec.derive_private_key(scalar, curve)
    public = key.public_key()
    pem = serialization.Encoding.PEM
    outputs: dict[str, Any] = {
        "algorithm": algorithm,
        "ecdsaCurve": curve_name,
        "rsaBits": 2048,  # planned by the provider whatever the algorithm
        # x509.MarshalECPrivateKey: SEC 1 ("EC PRIVATE KEY"), as the provider's private_key_pem.
        "privateKeyPem": key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode(),
        "privateKeyPemPkcs8": key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "publicKeyPem": public.public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        "privateKeyOpenssh": "",
        "publicKeyOpenssh": "",
        "publicKeyFingerprintMd5": "",
        "publicKeyFingerprintSha256": "",
    }
    if ssh_curve is not None:
        authorized = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        blob = base64.b64decode(authorized.split()[1])
        md5 = hashlib.md5(blob).hexdigest()
        outputs |= {
            "privateKeyOpenssh": _openssh_private_key(key, ssh_curve, blob, _digest(seed, "checkint", 4)),
            "publicKeyOpenssh": authorized.decode() + "\n",  # ssh.MarshalAuthorizedKey ends with a newline
            "publicKeyFingerprintMd5": ":".join(md5[i : i + 2] for i in range(0, len(md5), 2)),
            "publicKeyFingerprintSha256": "SHA256:"
            + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("="),
        }
    return outputs


def _openssh_private_key(key: ec.EllipticCurvePrivateKey, ssh_curve: str, public_blob: bytes, check: bytes) -> str:
    """An unencrypted ``openssh-key-v1`` key (OpenSSH PROTOCOL.key). cryptography's own serializer draws the
    check integers at random, which would make every run differ; here they come from the seed."""

    def string(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data

    scalar = key.private_numbers().private_value
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    private = (
        check
        + check
        + string(f"ecdsa-sha2-{ssh_curve}".encode())
        + string(ssh_curve.encode())
        + string(point)
        + string(scalar.to_bytes(scalar.bit_length() // 8 + 1, "big"))  # mpint: a leading zero keeps it positive
        + string(b"")  # comment
    )
    private += bytes(range(1, 1 + (-len(private)) % 8))  # padding to the cipher block size (8 for "none")
    body = (
        b"openssh-key-v1\x00"
        + string(b"none")
        + string(b"none")
        + string(b"")
        + (1).to_bytes(4, "big")
        + string(public_blob)
        + string(private)
    )
    encoded = base64.b64encode(body).decode()
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]  # Go's pem.EncodeToMemory width
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END OPENSSH PRIVATE KEY-----\n"


def self_signed_cert(seed: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs of ``tls:index/selfSignedCert:SelfSignedCert``, from plain inputs (``privateKeyPem`` unwrapped)."""
    used = sorted(k for k in _NOT_MODELLED if inputs.get(k) not in (None, False, "", 0))
    if used:
        raise UnsupportedInputError(f"{used}: not modelled offline")
    key = serialization.load_pem_private_key(str(inputs.get("privateKeyPem") or "").encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UnsupportedInputError(f"{type(key).__name__}: only ECDSA keys are modelled offline")
    [signature_hash] = [h for c, _, h in _CURVES.values() if c.name == key.curve.name]
    hours = int(inputs["validityPeriodHours"])
    uses = [str(u) for u in inputs["allowedUses"]]
    unknown = sorted(set(uses) - set(_KEY_USAGES) - set(_EXTENDED_KEY_USAGES))
    if unknown:
        raise UnsupportedInputError(f"allowed_uses {unknown}: not modelled offline")
    subject_inputs = inputs.get("subject") or {}
    subject = x509.Name(
        [
            x509.NameAttribute(oid, str(value))
            for field, oid in _SUBJECT
            for value in _as_list(subject_inputs.get(field))  # streetAddresses is the one list
            if value
        ]
    )
    is_ca = bool(inputs.get("isCaCertificate"))
    start, end = ISSUED_AT, ISSUED_AT + datetime.timedelta(hours=hours)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(_digest(seed, "serial", 16), "big") or 1)  # the provider: random, 128 bits
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if any(u in _KEY_USAGES for u in uses):
        flags = {u: u in uses for u in _KEY_USAGES}
        flags["key_cert_sign"], flags["crl_sign"] = flags.pop("cert_signing"), flags.pop("crl_signing")
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    extended = [_EXTENDED_KEY_USAGES[u] for u in uses if u in _EXTENDED_KEY_USAGES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    alt_names: list[x509.GeneralName] = [x509.DNSName(str(n)) for n in inputs.get("dnsNames") or []]
    alt_names += [x509.IPAddress(ipaddress.ip_address(str(a))) for a in inputs.get("ipAddresses") or []]
    alt_names += [x509.UniformResourceIdentifier(str(u)) for u in inputs.get("uris") or []]
    if alt_names:
        # RFC 5280 4.2.1.6: critical when the subject is empty (as Go's x509 marks it).
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=not subject)
    if is_ca or inputs.get("setSubjectKeyId"):
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    certificate = builder.sign(key, signature_hash, ecdsa_deterministic=True)
    return {
        "certPem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "keyAlgorithm": "ECDSA",
        # Go's time.MarshalText (RFC 3339), as the provider stores them.
        "validityStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "readyForRenewal": False,
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
