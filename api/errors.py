"""The API's exceptions: each names what went wrong in words a person can act on.

Services raise these; `api.problems` turns them into RFC 9457 problem details. Each class fixes
its HTTP status, a stable problem `slug` (the end of the `type` URI) and a short `title`. The
detail is given in Japanese and English; field-level errors carry one `FieldError` per wrong
field, so a form can show every message beside its own field at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from api.messages import FIELD_MESSAGES, Message


@dataclass(frozen=True)
class FieldError:
    """One wrong field: where (`field`, a dotted path), why (`code`), and the message."""

    field: str
    code: str
    message: Message

    @classmethod
    def of(cls, field: str, code: str) -> FieldError:
        """Return the error for `field` with the catalogue message of `code`."""
        return cls(field, code, FIELD_MESSAGES[code])


class ApiError(Exception):
    """Base of every error the API reports to a client."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        message: Message,
        *,
        extensions: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message.en)
        self.message = message
        self.extensions = dict(extensions or {})
        self.headers = dict(headers or {})


class InvalidFields(ApiError):
    """One or more fields are wrong; `errors` says which and why."""

    status = 422
    slug = "invalid-fields"
    title = "Some fields are not valid"

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(
            Message(
                "入力内容に誤りがあります。各項目のメッセージを確認してください。",
                "Some fields are not valid; see the message beside each field.",
            )
        )
        self.errors = list(errors)


class NotFound(ApiError):
    """The thing asked for does not exist (or is not the caller's to see)."""

    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(ApiError):
    """The request clashes with the current state."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class MykeyIdTaken(Conflict):
    """The MyKey ID candidate is already someone else's."""

    slug = "mykey-id-taken"
    title = "MyKey ID already in use"


class GenerationLimitReached(Conflict):
    """A fourth auto-generation was asked for; the third generated value is already the ID."""

    slug = "generation-limit-reached"
    title = "No more auto-generated candidates"


class CandidateFixed(Conflict):
    """The third generated candidate is the MyKey ID; it cannot be replaced by an own choice."""

    slug = "candidate-fixed"
    title = "MyKey ID candidate is fixed"


class CardAlreadyRegistered(Conflict):
    """This card's auth certificate already has a MyKey ID."""

    slug = "card-already-registered"
    title = "Card already registered"


class Gone(ApiError):
    """The thing existed but has expired or been used up."""

    status = 410
    slug = "gone"
    title = "Gone"


class RegistrationExpired(Gone):
    """The registration session has expired or was completed; start again with the card."""

    slug = "registration-expired"
    title = "Registration session expired"


class ChallengeExpired(Gone):
    """The card challenge is unknown, used or expired; ask for a new one."""

    slug = "challenge-expired"
    title = "Card challenge expired"


class AuthenticationFailed(ApiError):
    """The credentials were not accepted."""

    status = 401
    slug = "authentication-failed"
    title = "Authentication failed"


class CardVerificationFailed(AuthenticationFailed):
    """The card's answer to the challenge did not verify."""

    slug = "card-verification-failed"
    title = "Card authentication failed"


class AccountLocked(ApiError):
    """Too many wrong passwords: the account is locked for a while."""

    status = 423
    slug = "account-locked"
    title = "Account locked"


class Forbidden(ApiError):
    """The caller is known but their role does not allow this."""

    status = 403
    slug = "forbidden"
    title = "Forbidden"


class PayloadTooLarge(ApiError):
    """The request body exceeds the configured limit."""

    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class LedgerUnavailable(ApiError):
    """The ledger (or the card checks) cannot be reached right now; try again later."""

    status = 503
    slug = "ledger-unavailable"
    title = "Ledger unavailable"


class GrantRefused(Conflict):
    """The ledger refused a grant (unknown or revoked MyKey ID, budget, paused municipality)."""

    slug = "grant-refused"
    title = "Grant refused"


class SubmissionInDoubt(Conflict):
    """A transaction was sent but its outcome is not known; look it up before trying again."""

    slug = "submission-in-doubt"
    title = "Outcome not known yet"
