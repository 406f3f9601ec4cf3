"""The certificate checks: each way a certificate can be wrong is refused with its own reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from card_bridge.platform_checks.certificates import (
    Purpose,
    TrustConfiguration,
    check_auth_certificate,
    load_certificate,
)
from card_bridge.platform_checks.refusals import (
    CardAuthenticationRefused,
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
from card_bridge.virtual_card.issuance import TestAuthority
from tests.card.conftest import NOW, Pki


def trust_of(pki: Pki, revoked: dict[int, x509.ReasonFlags] | None = None) -> TrustConfiguration:
    crl = pki.authority.revocation_list(NOW, revoked)
    return TrustConfiguration((pki.authority.certificate,), (crl,))


def issue(pki: Pki, *, start: timedelta, end: timedelta, signs: bool = True) -> x509.Certificate:
    return pki.authority.issue_auth_certificate(
        pki.keys[1].public_key(),
        not_before=NOW + start,
        not_after=NOW + end,
        digital_signature=signs,
    )


def test_a_good_certificate_passes_and_names_its_anchor(pki: Pki) -> None:
    anchor = check_auth_certificate(pki.card.auth_certificate, trust_of(pki), NOW)
    assert anchor == pki.authority.certificate


def refusal(
    pki: Pki, certificate: x509.Certificate, trust: TrustConfiguration | None = None
) -> str:
    with pytest.raises(CardAuthenticationRefused) as refused:
        check_auth_certificate(certificate, trust or trust_of(pki), NOW)
    return refused.value.reason


def test_expired(pki: Pki) -> None:
    expired = issue(pki, start=-timedelta(days=400), end=-timedelta(seconds=1))
    with pytest.raises(CertificateExpired, match="renews"):
        check_auth_certificate(expired, trust_of(pki), NOW)
    assert refusal(pki, expired) == "certificate-expired"


def test_not_yet_valid(pki: Pki) -> None:
    future = issue(pki, start=timedelta(minutes=5), end=timedelta(days=300))
    with pytest.raises(CertificateNotYetValid):
        check_auth_certificate(future, trust_of(pki), NOW)


def test_wrong_ca(pki: Pki) -> None:
    foreign = pki.other_authority.issue_auth_certificate(
        pki.keys[1].public_key(), not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(1)
    )
    with pytest.raises(UntrustedIssuer):
        check_auth_certificate(foreign, trust_of(pki), NOW)


def test_a_ca_with_the_same_name_but_another_key_is_a_bad_signature(pki: Pki) -> None:
    impostor = TestAuthority.create(NOW - timedelta(days=30), key=pki.keys[2])
    forged = impostor.issue_auth_certificate(
        pki.keys[1].public_key(), not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(1)
    )
    assert forged.issuer == pki.authority.certificate.subject
    with pytest.raises(CertificateSignatureInvalid):
        check_auth_certificate(forged, trust_of(pki), NOW)


def test_tampered_certificate(pki: Pki) -> None:
    der = bytearray(pki.card.auth_certificate.public_bytes(serialization.Encoding.DER))
    der[-10] ^= 0x01  # inside the CA's signature value
    tampered = x509.load_der_x509_certificate(bytes(der))
    with pytest.raises(CertificateSignatureInvalid):
        check_auth_certificate(tampered, trust_of(pki), NOW)


def test_revoked(pki: Pki) -> None:
    serial = pki.card.auth_certificate.serial_number
    trust = trust_of(pki, {serial: x509.ReasonFlags.key_compromise})
    with pytest.raises(CertificateRevoked, match="keyCompromise"):
        check_auth_certificate(pki.card.auth_certificate, trust, NOW)
    # Key compromise is never tolerated, not even to prove an old binding.
    with pytest.raises(CertificateRevoked):
        check_auth_certificate(
            pki.card.auth_certificate, trust, NOW, purpose=Purpose.PROVE_PREVIOUS_BINDING
        )


def test_superseded_and_expired_are_tolerated_only_to_prove_a_previous_binding(pki: Pki) -> None:
    old = issue(pki, start=-timedelta(days=1800), end=-timedelta(days=1))
    trust = trust_of(pki, {old.serial_number: x509.ReasonFlags.superseded})
    with pytest.raises(CertificateExpired):
        check_auth_certificate(old, trust, NOW)
    check_auth_certificate(old, trust, NOW, purpose=Purpose.PROVE_PREVIOUS_BINDING)
    current = pki.card.auth_certificate
    trust = trust_of(pki, {current.serial_number: x509.ReasonFlags.superseded})
    with pytest.raises(CertificateRevoked):
        check_auth_certificate(current, trust, NOW)


def test_wrong_key_usage(pki: Pki) -> None:
    no_signing = issue(pki, start=-timedelta(days=1), end=timedelta(days=300), signs=False)
    with pytest.raises(KeyUsageNotPermitted):
        check_auth_certificate(no_signing, trust_of(pki), NOW)


def test_no_crl_fails_closed_unless_the_operator_says_otherwise(pki: Pki) -> None:
    bare = TrustConfiguration((pki.authority.certificate,))
    with pytest.raises(RevocationListMissing):
        check_auth_certificate(pki.card.auth_certificate, bare, NOW)
    lenient = TrustConfiguration((pki.authority.certificate,), require_revocation_list=False)
    check_auth_certificate(pki.card.auth_certificate, lenient, NOW)


def test_stale_or_foreign_signed_crl(pki: Pki) -> None:
    old_crl = pki.authority.revocation_list(NOW - timedelta(days=3))
    stale = TrustConfiguration((pki.authority.certificate,), (old_crl,))
    with pytest.raises(RevocationListStale, match="next update"):
        check_auth_certificate(pki.card.auth_certificate, stale, NOW)
    impostor = TestAuthority.create(NOW - timedelta(days=30), key=pki.keys[2])
    forged_crl = impostor.revocation_list(NOW)
    forged = TrustConfiguration((pki.authority.certificate,), (forged_crl,))
    with pytest.raises(RevocationListStale, match="not signed"):
        check_auth_certificate(pki.card.auth_certificate, forged, NOW)


def test_expired_trust_anchor(pki: Pki) -> None:
    with pytest.raises(TrustAnchorExpired):
        check_auth_certificate(pki.card.auth_certificate, trust_of(pki), NOW + timedelta(days=3700))


def test_a_non_rsa_2048_key_is_unsupported(pki: Pki) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    small = pki.authority.issue_auth_certificate(
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=1),
    )
    with pytest.raises(UnsupportedKey):
        check_auth_certificate(small, trust_of(pki), NOW)


def test_garbage_is_a_malformed_certificate() -> None:
    with pytest.raises(MalformedCertificate):
        load_certificate(b"\x30\x03\x02\x01\x00")


def test_every_refusal_has_its_own_reason() -> None:
    from card_bridge.platform_checks import refusals

    classes = [
        item
        for item in vars(refusals).values()
        if isinstance(item, type) and issubclass(item, refusals.CardAuthenticationRefused)
    ]
    reasons = [item.reason for item in classes]
    assert len(classes) > 10
    assert len(set(reasons)) == len(reasons)
