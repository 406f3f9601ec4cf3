"""Checks on a JPKI user-authentication certificate: trust anchor, dates, key usage, revocation.

JPKI auth certificates are issued directly by the JPKI user-authentication CA, so the chain is
one step: the certificate's issuer must be a configured trust anchor and its signature must verify
with the anchor's key. Revocation comes from CRLs the operator supplies (fetched from J-LIS in
production); without a fresh CRL from the issuer the check fails closed.

Checks run in a fixed order, so every refusal names the first thing that is wrong:
key type, issuer, issuer's signature, anchor dates, certificate dates, key usage, CRL.

`Purpose.PROVE_PREVIOUS_BINDING` is for a renewed card's old certificate only: when a
certificate is renewed the old one expires or is revoked as superseded, yet its signature still
proves who held the old binding. It tolerates expiry and revocation for superseded, cessation of
operation or affiliation change, and never key compromise or any other reason.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa

from card_bridge.platform_checks.refusals import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    CertificateSignatureInvalid,
    KeyUsageNotPermitted,
    MalformedCertificate,
    RevocationListMissing,
    RevocationListStale,
    TrustAnchorExpired,
    UnsupportedKey,
    UntrustedIssuer,
)

AUTH_KEY_SIZE = 2048

TOLERATED_WHEN_PROVING_PREVIOUS_BINDING = frozenset(
    {
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.affiliation_changed,
    }
)
"""Revocation reasons a renewal produces; key compromise is never among them."""


class Purpose(enum.Enum):
    """What a certificate is being checked for."""

    AUTHENTICATION = "authentication"
    PROVE_PREVIOUS_BINDING = "prove-previous-binding"


@dataclass(frozen=True)
class TrustConfiguration:
    """The operator's JPKI configuration: trust anchors and the latest CRL from each."""

    anchors: tuple[x509.Certificate, ...]
    revocation_lists: tuple[x509.CertificateRevocationList, ...] = ()
    require_revocation_list: bool = True


def load_certificate(der: bytes) -> x509.Certificate:
    """Parse a DER certificate; raise MalformedCertificate."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise MalformedCertificate(
            "the card's certificate is not a DER X.509 certificate"
        ) from None


def check_auth_certificate(
    certificate: x509.Certificate,
    trust: TrustConfiguration,
    now: datetime,
    *,
    purpose: Purpose = Purpose.AUTHENTICATION,
) -> x509.Certificate:
    """Return the trust anchor that issued `certificate`, or raise the first refusal that applies.

    Raises UnsupportedKey, UntrustedIssuer, CertificateSignatureInvalid, TrustAnchorExpired,
    CertificateNotYetValid, CertificateExpired, KeyUsageNotPermitted, RevocationListMissing,
    RevocationListStale, CertificateRevoked.
    """
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != AUTH_KEY_SIZE:
        raise UnsupportedKey("a JPKI auth certificate holds an RSA-2048 key; this one does not")
    anchor = _issuing_anchor(certificate, trust)
    if not anchor.not_valid_before_utc <= now <= anchor.not_valid_after_utc:
        raise TrustAnchorExpired(
            "the configured JPKI trust anchor is outside its validity: the operator must "
            "install the current JPKI CA certificate"
        )
    if now < certificate.not_valid_before_utc:
        raise CertificateNotYetValid(
            "the certificate is valid only from "
            f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    if now > certificate.not_valid_after_utc and purpose is Purpose.AUTHENTICATION:
        raise CertificateExpired(
            f"the certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d} UTC: the "
            "resident renews it at the municipal office"
        )
    _check_key_usage(certificate)
    _check_revocation(certificate, anchor, trust, now, purpose)
    return anchor


def _issuing_anchor(certificate: x509.Certificate, trust: TrustConfiguration) -> x509.Certificate:
    named = [anchor for anchor in trust.anchors if anchor.subject == certificate.issuer]
    if not named:
        raise UntrustedIssuer(
            "the certificate was not issued by a configured JPKI CA (wrong CA, or a test card on "
            "a production platform)"
        )
    for anchor in named:
        try:
            certificate.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return anchor
    raise CertificateSignatureInvalid(
        "the CA's signature on the certificate does not verify: it was altered or forged"
    )


def _check_key_usage(certificate: x509.Certificate) -> None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise KeyUsageNotPermitted("the certificate states no key usage") from None
    if not usage.digital_signature:
        raise KeyUsageNotPermitted("the certificate's key is not for digital signatures")


def _check_revocation(
    certificate: x509.Certificate,
    anchor: x509.Certificate,
    trust: TrustConfiguration,
    now: datetime,
    purpose: Purpose,
) -> None:
    lists = [crl for crl in trust.revocation_lists if crl.issuer == anchor.subject]
    if not lists:
        if trust.require_revocation_list:
            raise RevocationListMissing(
                "no CRL from the certificate's CA is configured: the operator must supply one"
            )
        return
    crl = max(lists, key=lambda item: item.last_update_utc)
    if not crl.is_signature_valid(anchor.public_key()):  # type: ignore[arg-type]
        raise RevocationListStale("the configured CRL is not signed by the JPKI CA: replace it")
    if crl.next_update_utc is None or now > crl.next_update_utc:
        raise RevocationListStale("the configured CRL is past its next update: fetch a fresh one")
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is None:
        return
    reason = _reason_of(entry)
    if purpose is Purpose.PROVE_PREVIOUS_BINDING and reason in (
        TOLERATED_WHEN_PROVING_PREVIOUS_BINDING
    ):
        return
    raise CertificateRevoked(
        f"the certificate is revoked ({reason.value if reason else 'no reason given'})"
    )


def _reason_of(entry: x509.RevokedCertificate) -> x509.ReasonFlags | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None
