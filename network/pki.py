"""The consortium PKI: a CA, node certificates that bind a node key, and revocation by CRL.

Every consortium node holds two keys: the secp256k1 *node key* (its chain identity: the address in
the validator list, the key of its QBFT signatures) and an EC P-256 *TLS key* (what TLS 1.3 proves
possession of). A node certificate, issued by the consortium CA, carries the TLS public key as its
subject key and a *node binding* extension:

    RLP([version=1, role, organisation, node_public_key(64), binding_signature(65)])

where `binding_signature` is the node key's signature over

    keccak256(BINDING_DOMAIN || RLP([role, organisation, sha256(TLS SubjectPublicKeyInfo DER)]))

Why a certificate on another key is refused: TLS proves the peer holds the private key of the
certificate's subject key; the binding proves the holder of the node key endorsed exactly that TLS
key. A certificate copied from another node is useless without its TLS private key (the handshake
fails); a certificate naming someone else's node key over the thief's own TLS key cannot carry a
valid binding signature without that node's private key, even if a careless CA signed it. So a
connection authenticated this way speaks for the node key the certificate names, and for nobody
else.

Invariants: the binding extension is non-critical (so stock TLS stacks verify the chain) and is
checked by `read_node_binding` on every accepted certificate; private keys are written mode 0600.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import rlp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from eth_utils.crypto import keccak

from network.identity import (
    NODE_PUBLIC_KEY_SIZE,
    NodeAddress,
    NodeKey,
    NodeKeyError,
    address_of,
    format_address,
    recover_public_key,
)

NODE_BINDING_OID = x509.ObjectIdentifier("2.25.248501599643962652020694268979216470816")
"""Our node-binding extension. A 2.25 (UUID) arc needs no registration and cannot collide."""

BINDING_VERSION = 1
BINDING_DOMAIN = b"mykey-ledger node binding v1\x00"
"""Prefixed to the signed data so a binding signature can never pass as a transaction or seal."""

NODE_CERTIFICATE_DAYS = 825
CA_CERTIFICATE_DAYS = 3650


class Role(enum.StrEnum):
    """What a node does in the consortium; validators seal blocks, members only follow."""

    VALIDATOR = "validator"
    MEMBER = "member"


class BindingError(Exception):
    """A certificate's node binding is missing, malformed or signed by the wrong key."""


class PkiError(Exception):
    """A CA, certificate or CRL file could not be read or does not fit the consortium."""


class CertificateOutOfValidity(PkiError):
    """A certificate is used before its start or after its end of validity."""


@dataclass(frozen=True)
class NodeBinding:
    """What a verified node certificate says about its holder."""

    node_public_key: bytes
    address: NodeAddress
    role: Role
    organisation: str
    serial_number: int


def spki_digest(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Return sha256 of the DER SubjectPublicKeyInfo: the TLS key the node key endorses."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).digest()


def binding_hash(role: Role, organisation: str, tls_spki_digest: bytes) -> bytes:
    """Return the 32-byte hash the node key signs to endorse a TLS key."""
    body = rlp.encode([role.value.encode(), organisation.encode(), tls_spki_digest])
    return keccak(BINDING_DOMAIN + body)


def encode_binding(
    node_key: NodeKey, tls_public_key: ec.EllipticCurvePublicKey, role: Role, organisation: str
) -> bytes:
    """Return the extension value binding `node_key` to `tls_public_key`."""
    signature = node_key.sign_hash(binding_hash(role, organisation, spki_digest(tls_public_key)))
    return bytes(
        rlp.encode(
            [
                BINDING_VERSION,
                role.value.encode(),
                organisation.encode(),
                node_key.public_key,
                signature,
            ]
        )
    )


def read_node_binding(certificate: x509.Certificate) -> NodeBinding:
    """Return the verified node binding of `certificate`.

    Raises BindingError when the extension is absent or malformed, or when its signature was not
    made by the node key it names over this certificate's own TLS key.
    """
    try:
        extension = certificate.extensions.get_extension_for_oid(NODE_BINDING_OID)
    except x509.ExtensionNotFound as error:
        raise BindingError(
            "certificate has no node-binding extension: it was not issued as a node certificate"
        ) from error
    value = extension.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise BindingError("node-binding extension has an unexpected type")
    try:
        items = rlp.decode(value.value, strict=True)
    except rlp.DecodingError as error:
        raise BindingError(f"node-binding extension is not valid RLP: {error}") from error
    if (
        not isinstance(items, list)
        or len(items) != 5
        or not all(isinstance(i, bytes) for i in items)
    ):
        raise BindingError("node-binding extension must be a list of five byte strings")
    version, role_raw, organisation_raw, public_key, signature = items
    if version != bytes([BINDING_VERSION]):
        raise BindingError(f"node-binding version {version.hex()} is not supported (want 1)")
    try:
        role = Role(role_raw.decode())
        organisation = organisation_raw.decode()
    except (UnicodeDecodeError, ValueError) as error:
        raise BindingError(f"node-binding role or organisation is malformed: {error}") from error
    if len(public_key) != NODE_PUBLIC_KEY_SIZE:
        raise BindingError(f"node public key in binding is {len(public_key)} bytes, want 64")
    tls_key = certificate.public_key()
    if not isinstance(tls_key, ec.EllipticCurvePublicKey):
        raise BindingError("node certificate's TLS key is not an elliptic-curve key")
    digest = binding_hash(role, organisation, spki_digest(tls_key))
    try:
        signer = recover_public_key(digest, signature)
    except NodeKeyError as error:
        raise BindingError(f"node-binding signature is malformed: {error}") from error
    if signer != public_key:
        raise BindingError(
            f"node-binding signature was made by {format_address(address_of(signer))}, not by the "
            f"node key it names ({format_address(address_of(public_key))}): the certificate's "
            "TLS key was not endorsed by that node"
        )
    return NodeBinding(
        node_public_key=public_key,
        address=address_of(public_key),
        role=role,
        organisation=organisation,
        serial_number=certificate.serial_number,
    )


def verify_issued_by(
    certificate: x509.Certificate, ca_certificate: x509.Certificate, now: datetime.datetime
) -> None:
    """Check that the consortium CA signed `certificate` and that it is valid at `now`.

    Raises PkiError naming the failed check. TLS already verifies the chain; this repeats it in our
    own code so a refusal has a specific reason and so the check holds for any transport.
    """
    ca_key = ca_certificate.public_key()
    if not isinstance(ca_key, ec.EllipticCurvePublicKey):
        raise PkiError("consortium CA key is not an elliptic-curve key")
    if certificate.issuer != ca_certificate.subject:
        raise PkiError(
            f"certificate issuer {certificate.issuer.rfc4514_string()!r} is not the consortium "
            f"CA {ca_certificate.subject.rfc4514_string()!r}"
        )
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (InvalidSignature, ValueError, TypeError) as error:
        raise PkiError(f"certificate is not signed by the consortium CA: {error}") from error
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise CertificateOutOfValidity(
            f"certificate is valid from {certificate.not_valid_before_utc.isoformat()} to "
            f"{certificate.not_valid_after_utc.isoformat()}, not at {now.isoformat()}"
        )


@dataclass(frozen=True)
class ConsortiumCA:
    """The consortium certificate authority: its private key and self-signed certificate."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, name: str, now: datetime.datetime) -> ConsortiumCA:
        """Return a new CA named `name`, valid from `now` for CA_CERTIFICATE_DAYS."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} consortium CA"),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_CERTIFICATE_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, certificate=certificate)

    def issue_node_certificate(
        self,
        *,
        node_key: NodeKey,
        tls_public_key: ec.EllipticCurvePublicKey,
        organisation: str,
        role: Role,
        now: datetime.datetime,
        days: int = NODE_CERTIFICATE_DAYS,
    ) -> x509.Certificate:
        """Return a node certificate for `tls_public_key`, bound to `node_key` (see module doc)."""
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.value),
                x509.NameAttribute(NameOID.COMMON_NAME, format_address(node_key.address)),
            ]
        )
        binding = encode_binding(node_key, tls_public_key, role, organisation)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(tls_public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.UnrecognizedExtension(NODE_BINDING_OID, binding), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def issue_crl(
        self, revoked_serials: Iterable[int], now: datetime.datetime, days: int = 30
    ) -> x509.CertificateRevocationList:
        """Return a CRL listing `revoked_serials`, valid for `days` from `now`."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + datetime.timedelta(days=days))
        )
        for serial in sorted(set(revoked_serials)):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
            )
        return builder.sign(self.key, hashes.SHA256())

    def save(self, folder: Path) -> None:
        """Write `ca.key` (mode 0600) and `ca.crt` into `folder`."""
        write_private_key(folder / "ca.key", self.key)
        write_certificate(folder / "ca.crt", self.certificate)

    @classmethod
    def load(cls, folder: Path) -> ConsortiumCA:
        """Read a CA written by `save`; raise PkiError when the files do not fit."""
        return cls(
            key=read_private_key(folder / "ca.key"), certificate=read_certificate(folder / "ca.crt")
        )


def generate_tls_key() -> ec.EllipticCurvePrivateKey:
    """Return a fresh P-256 TLS key (supported by every TLS 1.3 stack)."""
    return ec.generate_private_key(ec.SECP256R1())


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write `key` as unencrypted PKCS#8 PEM, creating the file with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    os.chmod(path, 0o600)


def write_certificate(path: Path, certificate: x509.Certificate) -> None:
    """Write `certificate` as PEM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def write_crl(path: Path, crl: x509.CertificateRevocationList) -> None:
    """Write `crl` as PEM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def read_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Read a PEM EC private key; raise PkiError when it is missing or of another kind."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise PkiError(f"cannot read private key {path}: {error}") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"private key {path} is not an elliptic-curve key")
    return key


def read_certificate(path: Path) -> x509.Certificate:
    """Read a PEM certificate; raise PkiError when it is missing or malformed."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as error:
        raise PkiError(f"cannot read certificate {path}: {error}") from error


def read_crl(path: Path, ca_certificate: x509.Certificate) -> x509.CertificateRevocationList:
    """Read a PEM CRL and check the consortium CA signed it; raise PkiError otherwise."""
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError) as error:
        raise PkiError(f"cannot read revocation list {path}: {error}") from error
    ca_key = ca_certificate.public_key()
    if not isinstance(ca_key, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(ca_key):
        raise PkiError(f"revocation list {path} is not signed by the consortium CA")
    return crl


@dataclass(frozen=True)
class NodeTlsFiles:
    """Where a node's TLS material lives, under `<datadir>/keys`."""

    certificate: Path
    private_key: Path
    ca_certificate: Path

    @classmethod
    def in_keys_folder(cls, keys_folder: Path) -> NodeTlsFiles:
        """Return the standard file names inside a node's keys folder."""
        return cls(
            certificate=keys_folder / "tls.crt",
            private_key=keys_folder / "tls.key",
            ca_certificate=keys_folder / "ca.crt",
        )


def issue_node_files(
    *,
    ca: ConsortiumCA,
    node_key: NodeKey,
    organisation: str,
    role: Role,
    keys_folder: Path,
    now: datetime.datetime,
) -> NodeTlsFiles:
    """Make a TLS key and bound certificate for `node_key`; write them and the CA certificate.

    Returns the paths written. The node key itself is written by the caller (`NodeKey.save`).
    """
    tls_key = generate_tls_key()
    certificate = ca.issue_node_certificate(
        node_key=node_key,
        tls_public_key=tls_key.public_key(),
        organisation=organisation,
        role=role,
        now=now,
    )
    files = NodeTlsFiles.in_keys_folder(keys_folder)
    write_private_key(files.private_key, tls_key)
    write_certificate(files.certificate, certificate)
    write_certificate(files.ca_certificate, ca.certificate)
    return files
