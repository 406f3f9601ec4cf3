"""The JPKI trust files of `mykey api serve`: loading, refusals, and re-reading a replaced CRL.

Cards are virtual My Number Cards of test JPKI authorities (THROWAWAY TEST KEYS), signing in
memory; the verifier is the one `mykey api serve` builds.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from api.cards import CardCertificateRefused, JpkiCardVerifier
from api.jpki_trust import (
    ReloadingJpkiVerifier,
    TrustFileError,
    TrustFiles,
    load_trust,
    trust_files,
)
from api.services.rebinding import previous_card_verifier
from card_bridge.virtual_card.issuance import CardIssue, TestAuthority, issue_card, to_pem

CHALLENGE = b"a challenge the API made"
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def authority() -> TestAuthority:
    return TestAuthority.create(NOW)


@pytest.fixture(scope="module")
def card(authority: TestAuthority) -> CardIssue:
    return issue_card(authority, NOW)


def _check(verifier: JpkiCardVerifier, card: CardIssue) -> str:
    signature = card.private_key.sign(CHALLENGE, padding.PKCS1v15(), hashes.SHA256())
    verified = verifier.verify_challenge_response(
        challenge=CHALLENGE,
        certificate_der=card.auth_certificate.public_bytes(serialization.Encoding.DER),
        signature=signature,
        now=int(NOW.timestamp()),
    )
    return str(verified.certificate_fingerprint)


def _replace(path: Path, data: bytes, bump: int) -> None:
    """Write `data` and move the modification time on, as a replaced file would have."""
    path.write_bytes(data)
    stamp = path.stat().st_mtime_ns + bump * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def _files(tmp_path: Path, authority: TestAuthority, *, der_crl: bool) -> TrustFiles:
    anchors = tmp_path / "jpki-ca.pem"
    anchors.write_bytes(
        to_pem(TestAuthority.create(NOW).certificate) + to_pem(authority.certificate)
    )
    crl = authority.revocation_list(NOW)
    crl_file = tmp_path / ("jpki.crl" if der_crl else "jpki-crl.pem")
    crl_file.write_bytes(crl.public_bytes(serialization.Encoding.DER) if der_crl else to_pem(crl))
    return TrustFiles(anchors, (crl_file,))


@pytest.mark.parametrize("der_crl", [True, False])
def test_anchors_pem_with_several_cas_and_a_crl_in_either_encoding(
    tmp_path: Path, authority: TestAuthority, card: CardIssue, der_crl: bool
) -> None:
    files = _files(tmp_path, authority, der_crl=der_crl)

    trust = load_trust(files)

    assert len(trust.anchors) == 2
    assert trust.anchors[1] == authority.certificate
    assert len(_check(ReloadingJpkiVerifier(files), card)) == 64


def test_unreadable_or_wrong_files_are_refused_naming_the_variable(
    tmp_path: Path, authority: TestAuthority
) -> None:
    files = _files(tmp_path, authority, der_crl=True)
    with pytest.raises(TrustFileError, match="MYKEY_API_JPKI_TRUST_ANCHORS: cannot read"):
        load_trust(TrustFiles(tmp_path / "missing.pem", files.revocation_lists))
    with pytest.raises(TrustFileError, match=r"MYKEY_API_JPKI_TRUST_ANCHORS: .* no PEM"):
        load_trust(TrustFiles(files.revocation_lists[0], files.revocation_lists))
    with pytest.raises(TrustFileError, match=r"MYKEY_API_JPKI_CRLS: .* not a certificate revoc"):
        load_trust(TrustFiles(files.anchors, (files.anchors,)))


def test_half_a_trust_configuration_is_refused(tmp_path: Path) -> None:
    assert trust_files(None, ()) is None
    with pytest.raises(TrustFileError, match="MYKEY_API_JPKI_TRUST_ANCHORS is not"):
        trust_files(None, (tmp_path / "a.crl",))
    with pytest.raises(TrustFileError, match="MYKEY_API_JPKI_CRLS is not"):
        trust_files(tmp_path / "ca.pem", ())


def test_a_replaced_crl_takes_effect_at_the_next_card_without_a_restart(
    tmp_path: Path, authority: TestAuthority, card: CardIssue
) -> None:
    files = _files(tmp_path, authority, der_crl=True)
    verifier = ReloadingJpkiVerifier(files)
    previous = previous_card_verifier(verifier)
    _check(verifier, card)

    revoked = {card.auth_certificate.serial_number: x509.ReasonFlags.key_compromise}
    crl = authority.revocation_list(NOW, revoked)
    _replace(files.revocation_lists[0], crl.public_bytes(serialization.Encoding.DER), bump=1)

    with pytest.raises(CardCertificateRefused, match="revoked"):
        _check(verifier, card)
    # the re-binding check of a previous card follows the same files
    with pytest.raises(CardCertificateRefused, match="revoked"):
        _check(previous, card)


def test_a_half_written_replacement_keeps_the_previous_trust_until_whole(
    tmp_path: Path, authority: TestAuthority, card: CardIssue
) -> None:
    files = _files(tmp_path, authority, der_crl=True)
    verifier = ReloadingJpkiVerifier(files)
    whole = files.revocation_lists[0].read_bytes()

    _replace(files.revocation_lists[0], whole[: len(whole) // 2], bump=1)
    assert len(_check(verifier, card)) == 64  # the previous CRL still applies

    other = TestAuthority.create(NOW)
    _replace(files.anchors, to_pem(other.certificate), bump=2)
    _replace(files.revocation_lists[0], to_pem(other.revocation_list(NOW)), bump=2)
    with pytest.raises(CardCertificateRefused):
        _check(verifier, card)  # now trusting only the other authority
