"""Why the platform refused a card's answer: one exception class per reason.

Each class has a stable, machine-readable `reason` (kebab-case, as the API's problem details
use) and a message for a person. Messages never include the certificate serial or anything
else that identifies the resident.
"""

from __future__ import annotations

from typing import ClassVar


class CardAuthenticationRefused(Exception):
    """Base of every refusal; `reason` says which check failed."""

    reason: ClassVar[str] = "refused"


class ChallengeUnknown(CardAuthenticationRefused):
    """The challenge was never issued by this platform (or was forgotten long ago)."""

    reason = "challenge-unknown"


class ChallengeReplayed(CardAuthenticationRefused):
    """The challenge was already used once; challenges are single-use."""

    reason = "challenge-replayed"


class ChallengeExpired(CardAuthenticationRefused):
    """The challenge outlived its lifetime before the card's answer arrived."""

    reason = "challenge-expired"


class MalformedCertificate(CardAuthenticationRefused):
    """The bytes are not a DER X.509 certificate."""

    reason = "malformed-certificate"


class UnsupportedKey(CardAuthenticationRefused):
    """The certificate's key is not the RSA-2048 key a JPKI auth certificate holds."""

    reason = "unsupported-key"


class UntrustedIssuer(CardAuthenticationRefused):
    """The certificate was not issued by any configured JPKI trust anchor."""

    reason = "untrusted-issuer"


class CertificateSignatureInvalid(CardAuthenticationRefused):
    """The issuer's signature on the certificate does not verify (tampered or forged)."""

    reason = "certificate-signature-invalid"


class CertificateExpired(CardAuthenticationRefused):
    """The certificate's notAfter has passed."""

    reason = "certificate-expired"


class CertificateNotYetValid(CardAuthenticationRefused):
    """The certificate's notBefore is still in the future."""

    reason = "certificate-not-yet-valid"


class TrustAnchorExpired(CardAuthenticationRefused):
    """The configured trust anchor itself is outside its validity: the operator must update it."""

    reason = "trust-anchor-expired"


class KeyUsageNotPermitted(CardAuthenticationRefused):
    """The certificate's key usage does not include digitalSignature."""

    reason = "key-usage-not-permitted"


class CertificateRevoked(CardAuthenticationRefused):
    """The operator's CRL lists the certificate as revoked."""

    reason = "certificate-revoked"


class RevocationListMissing(CardAuthenticationRefused):
    """No CRL from the certificate's issuer is configured, so revocation cannot be checked."""

    reason = "revocation-list-missing"


class RevocationListStale(CardAuthenticationRefused):
    """The configured CRL is past its nextUpdate (or does not verify): fetch a fresh one."""

    reason = "revocation-list-stale"


class SignatureInvalid(CardAuthenticationRefused):
    """The card's signature over the challenge does not verify with the certificate's key."""

    reason = "signature-invalid"
