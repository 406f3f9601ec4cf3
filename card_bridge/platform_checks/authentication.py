"""Challenge-response authentication with a My Number Card's auth certificate.

The platform issues a challenge; the card signs SHA-256 of it (the card's RSASSA-PKCS1-v1_5
with a SHA-256 DigestInfo); the platform redeems the challenge, checks the certificate and
verifies the signature. Only `CardAuthenticator.verify` makes an `AuthenticatedCard`, and the
binding service accepts nothing else, so no certificate is ever bound without its key's proof.

Invariants: the challenge is redeemed first, so even a refused answer uses it up; the time of
every check comes from the one injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_bridge.platform_checks.certificates import (
    Purpose,
    TrustConfiguration,
    check_auth_certificate,
    load_certificate,
)
from card_bridge.platform_checks.challenges import Challenge, ChallengeStore, Clock
from card_bridge.platform_checks.refusals import SignatureInvalid, UnsupportedKey


@dataclass(frozen=True)
class AuthenticatedCard:
    """A certificate whose key just signed a platform challenge, checked for `purpose`."""

    certificate: x509.Certificate
    purpose: Purpose
    authenticated_at: datetime


class CardAuthenticator:
    """Issues challenges and verifies a card's answer to them."""

    def __init__(self, trust: TrustConfiguration, challenges: ChallengeStore, clock: Clock) -> None:
        self._trust = trust
        self._challenges = challenges
        self._clock = clock

    def issue_challenge(self) -> Challenge:
        """Return a fresh single-use challenge for the card to sign."""
        return self._challenges.issue()

    def verify(
        self,
        *,
        challenge: bytes,
        certificate_der: bytes,
        signature: bytes,
        purpose: Purpose = Purpose.AUTHENTICATION,
    ) -> AuthenticatedCard:
        """Return the authenticated card, or raise a `CardAuthenticationRefused` subclass.

        Order: redeem the challenge (ChallengeUnknown/Replayed/Expired), parse and check the
        certificate (see `check_auth_certificate`), verify the signature (SignatureInvalid).
        """
        self._challenges.redeem(challenge)
        now = self._clock()
        certificate = load_certificate(certificate_der)
        check_auth_certificate(certificate, self._trust, now, purpose=purpose)
        verify_challenge_signature(certificate, challenge, signature)
        return AuthenticatedCard(certificate, purpose, now)


def verify_challenge_signature(
    certificate: x509.Certificate, challenge: bytes, signature: bytes
) -> None:
    """Verify RSASSA-PKCS1-v1_5 / SHA-256 (RFC 8017 8.2.2) over `challenge`.

    Raises SignatureInvalid, or UnsupportedKey for a non-RSA certificate.
    """
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise UnsupportedKey("the certificate does not hold an RSA key")
    try:
        key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureInvalid(
            "the card's signature does not verify with its certificate: the answer was altered "
            "or came from another card"
        ) from None
