"""Challenge-response end to end in memory: the card signs, the platform checks; each refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from card_bridge.jpki import JpkiCard
from card_bridge.platform_checks.authentication import CardAuthenticator
from card_bridge.platform_checks.certificates import Purpose, TrustConfiguration
from card_bridge.platform_checks.challenges import ChallengeStore
from card_bridge.platform_checks.refusals import (
    ChallengeExpired,
    ChallengeReplayed,
    ChallengeUnknown,
    MalformedCertificate,
    SignatureInvalid,
)
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.issuance import issue_card
from tests.card.conftest import NOW, TEST_PIN, FakeClock, MemoryTransport, Pki


@pytest.fixture
def authenticator(pki: Pki, clock: FakeClock) -> CardAuthenticator:
    trust = TrustConfiguration((pki.authority.certificate,), (pki.authority.revocation_list(NOW),))
    return CardAuthenticator(trust, ChallengeStore(clock, lifetime=timedelta(minutes=2)), clock)


def tap(card: VirtualMyNumberCard, challenge: bytes) -> tuple[bytes, bytes]:
    jpki = JpkiCard.open(MemoryTransport(card))
    certificate = jpki.read_auth_certificate()
    jpki.verify_pin(TEST_PIN)
    return certificate, jpki.sign(challenge)


def test_a_card_that_signs_the_challenge_is_authenticated(
    authenticator: CardAuthenticator, card: VirtualMyNumberCard, pki: Pki
) -> None:
    challenge = authenticator.issue_challenge()
    certificate, signature = tap(card, challenge.value)
    result = authenticator.verify(
        challenge=challenge.value, certificate_der=certificate, signature=signature
    )
    assert result.certificate == pki.card.auth_certificate
    assert result.purpose is Purpose.AUTHENTICATION
    assert result.authenticated_at == NOW


def test_a_replayed_answer_is_refused(
    authenticator: CardAuthenticator, card: VirtualMyNumberCard
) -> None:
    challenge = authenticator.issue_challenge()
    certificate, signature = tap(card, challenge.value)
    authenticator.verify(
        challenge=challenge.value, certificate_der=certificate, signature=signature
    )
    with pytest.raises(ChallengeReplayed) as refused:
        authenticator.verify(
            challenge=challenge.value, certificate_der=certificate, signature=signature
        )
    assert refused.value.reason == "challenge-replayed"


def test_an_answer_after_the_challenge_expired_is_refused(
    authenticator: CardAuthenticator, card: VirtualMyNumberCard, clock: FakeClock
) -> None:
    challenge = authenticator.issue_challenge()
    certificate, signature = tap(card, challenge.value)
    clock.advance(timedelta(minutes=2, seconds=1))
    with pytest.raises(ChallengeExpired) as refused:
        authenticator.verify(
            challenge=challenge.value, certificate_der=certificate, signature=signature
        )
    assert refused.value.reason == "challenge-expired"


def test_a_self_made_challenge_is_refused(
    authenticator: CardAuthenticator, card: VirtualMyNumberCard
) -> None:
    certificate, signature = tap(card, b"\x07" * 32)
    with pytest.raises(ChallengeUnknown):
        authenticator.verify(
            challenge=b"\x07" * 32, certificate_der=certificate, signature=signature
        )


def test_a_tampered_signature_is_refused_and_uses_up_the_challenge(
    authenticator: CardAuthenticator, card: VirtualMyNumberCard
) -> None:
    challenge = authenticator.issue_challenge()
    certificate, signature = tap(card, challenge.value)
    tampered = bytes([signature[0] ^ 0x01]) + signature[1:]
    with pytest.raises(SignatureInvalid) as refused:
        authenticator.verify(
            challenge=challenge.value, certificate_der=certificate, signature=tampered
        )
    assert refused.value.reason == "signature-invalid"
    with pytest.raises(ChallengeReplayed):
        authenticator.verify(
            challenge=challenge.value, certificate_der=certificate, signature=signature
        )


def test_a_signature_over_another_challenge_is_refused(
    authenticator: CardAuthenticator, card: VirtualMyNumberCard
) -> None:
    challenge = authenticator.issue_challenge()
    certificate, signature = tap(card, b"something else")
    with pytest.raises(SignatureInvalid):
        authenticator.verify(
            challenge=challenge.value, certificate_der=certificate, signature=signature
        )


def test_another_cards_certificate_with_this_cards_signature_is_refused(
    authenticator: CardAuthenticator, card: VirtualMyNumberCard, pki: Pki
) -> None:
    other = issue_card(pki.authority, NOW, key=pki.keys[1])
    challenge = authenticator.issue_challenge()
    _, signature = tap(card, challenge.value)
    with pytest.raises(SignatureInvalid):
        authenticator.verify(
            challenge=challenge.value,
            certificate_der=other.auth_certificate.public_bytes(serialization.Encoding.DER),
            signature=signature,
        )


def test_garbage_certificate_bytes_are_refused(
    authenticator: CardAuthenticator, card: VirtualMyNumberCard
) -> None:
    challenge = authenticator.issue_challenge()
    _, signature = tap(card, challenge.value)
    with pytest.raises(MalformedCertificate):
        authenticator.verify(
            challenge=challenge.value, certificate_der=b"nope", signature=signature
        )
