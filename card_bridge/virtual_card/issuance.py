"""A test JPKI certification authority made at run time: CA, auth certificates, CRLs.

Everything is generated with `cryptography` when a test or a demo starts; no real J-LIS key or
certificate is ever used. Names say TEST so nothing here can be mistaken for the real JPKI CA.
The auth certificate carries no name, address or Individual Number, as the real one does not.

Options exist for the refusals the platform checks must prove: validity window, key usage,
which CA signs, and revocation through `TestAuthority.revocation_list`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

RSA_KEY_SIZE = 2048
"""The JPKI auth key and its CA are RSA-2048."""


def generate_key() -> rsa.RSAPrivateKey:
    """Return a fresh RSA-2048 key with exponent 65537."""
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)


@dataclass(frozen=True)
class TestAuthority:
    """A self-signed test CA that issues auth certificates and CRLs."""

    __test__ = False  # not a pytest test class, despite the name

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(
        cls,
        now: datetime,
        *,
        name: str = "MyKey Ledger TEST JPKI user authentication CA",
        key: rsa.RSAPrivateKey | None = None,
        lifetime: timedelta = timedelta(days=3650),
    ) -> TestAuthority:
        """Make a self-signed CA valid from a day before `now` for `lifetime`."""
        key = key or generate_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MyKey Ledger TEST"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + lifetime)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(certificate_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    def issue_auth_certificate(
        self,
        subject_key: CertificatePublicKeyTypes,
        *,
        not_before: datetime,
        not_after: datetime,
        digital_signature: bool = True,
        serial_number: int | None = None,
    ) -> x509.Certificate:
        """Issue a user-authentication certificate for `subject_key`.

        The subject is a random label (the real one holds nothing personal either);
        `digital_signature=False` makes a certificate whose key usage refuses authentication.
        """
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"TEST auth {secrets.token_hex(8)}"),
            ]
        )
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(subject_key)
            .serial_number(serial_number or x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(digital_signature=digital_signature, key_encipherment=True), True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )

    def revocation_list(
        self,
        now: datetime,
        revoked: dict[int, x509.ReasonFlags] | None = None,
        *,
        next_update: timedelta = timedelta(days=1),
    ) -> x509.CertificateRevocationList:
        """Return a CRL issued at `now` revoking `revoked` (serial -> reason)."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now - timedelta(minutes=1))
            .next_update(now + next_update)
        )
        for serial, reason in (revoked or {}).items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - timedelta(minutes=1))
                .add_extension(x509.CRLReason(reason), critical=False)
                .build()
            )
        return builder.sign(self.key, hashes.SHA256())


@dataclass(frozen=True)
class CardIssue:
    """What a virtual card holds: its auth key, auth certificate and the CA certificate."""

    private_key: rsa.RSAPrivateKey
    auth_certificate: x509.Certificate
    ca_certificate: x509.Certificate


def issue_card(
    authority: TestAuthority,
    now: datetime,
    *,
    key: rsa.RSAPrivateKey | None = None,
    valid_for: timedelta = timedelta(days=5 * 365),
    digital_signature: bool = True,
) -> CardIssue:
    """Make the contents of one virtual card, its certificate valid from an hour before `now`."""
    key = key or generate_key()
    certificate = authority.issue_auth_certificate(
        key.public_key(),
        not_before=now - timedelta(hours=1),
        not_after=now + valid_for,
        digital_signature=digital_signature,
    )
    return CardIssue(key, certificate, authority.certificate)


def utc_now() -> datetime:
    """The current time, timezone-aware (a default for command-line use only)."""
    return datetime.now(UTC)


def to_pem(item: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    """PEM encoding, for files a demo hands to the platform."""
    return item.public_bytes(serialization.Encoding.PEM)


def _key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    certificate_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_sign,
        crl_sign=certificate_sign,
        encipher_only=False,
        decipher_only=False,
    )
