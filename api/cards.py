"""The `CardVerifier` port over card_bridge's JPKI platform checks (certificate + signature).

The API keeps single use of its challenges in its own store (registration challenges, terminal
actions), so this adapter checks only what the card answered: the certificate chains to the
configured JPKI trust anchor, is valid at `now`, allows authentication and is not revoked; the
signature is the certificate's RSA key over the exact challenge bytes (RSASSA-PKCS1-v1_5 with
SHA-256). A refused certificate and a wrong signature are different problems (the counter shows
different words), both subclasses of `CardVerificationFailed`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from api.errors import CardVerificationFailed
from api.messages import Message
from api.ports import CertificateFingerprint, VerifiedCard
from card_bridge.platform_checks.authentication import verify_challenge_signature
from card_bridge.platform_checks.certificates import (
    Purpose,
    TrustConfiguration,
    check_auth_certificate,
    load_certificate,
)
from card_bridge.platform_checks.refusals import CardAuthenticationRefused, SignatureInvalid


class CardAnswerInvalid(CardVerificationFailed):
    """The signature does not verify with the card's certificate."""

    slug = "card-answer-invalid"
    title = "Card answer invalid"


class CardCertificateRefused(CardVerificationFailed):
    """Certificate expired, revoked, from the wrong CA or with the wrong key usage."""

    slug = "card-certificate-refused"
    title = "Card certificate refused"


class JpkiCardVerifier:
    """Verifies card answers against one JPKI trust configuration, for one purpose.

    `Purpose.AUTHENTICATION` (the default) is every ordinary card step. A re-binding asks the
    resident's previous card to prove its old binding: after a renewal its certificate is
    revoked as superseded (or has expired), which `Purpose.PROVE_PREVIOUS_BINDING` tolerates
    (never a revocation for key compromise); the signature is checked the same way.
    """

    def __init__(
        self, trust: TrustConfiguration, *, purpose: Purpose = Purpose.AUTHENTICATION
    ) -> None:
        self._trust = trust
        self._purpose = purpose

    def for_previous_binding(self) -> JpkiCardVerifier:
        """Return the same trust's check of a previous card proving its old binding."""
        return JpkiCardVerifier(self._trust, purpose=Purpose.PROVE_PREVIOUS_BINDING)

    def verify_challenge_response(
        self, *, challenge: bytes, certificate_der: bytes, signature: bytes, now: int
    ) -> VerifiedCard:
        """Return the verified card; raise CardCertificateRefused or CardAnswerInvalid."""
        moment = datetime.fromtimestamp(now, tz=UTC)
        try:
            certificate = load_certificate(certificate_der)
            check_auth_certificate(certificate, self._trust, moment, purpose=self._purpose)
        except CardAuthenticationRefused as refusal:
            raise CardCertificateRefused(
                Message(f"カードの証明書を受け付けられません: {refusal}", str(refusal))
            ) from None
        try:
            verify_challenge_signature(certificate, challenge, signature)
        except SignatureInvalid as refusal:
            raise CardAnswerInvalid(
                Message("カードの署名を確認できません。もう一度お試しください。", str(refusal))
            ) from None
        except CardAuthenticationRefused as refusal:
            raise CardCertificateRefused(
                Message(f"カードの証明書を受け付けられません: {refusal}", str(refusal))
            ) from None
        return VerifiedCard(
            certificate_fingerprint=CertificateFingerprint(
                hashlib.sha256(certificate_der).hexdigest()
            ),
            certificate_not_after=int(certificate.not_valid_after_utc.timestamp()),
        )
