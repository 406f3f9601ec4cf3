"""Problems of the chain side: `ApiError`s with the codes of docs/terminal-requests.md.

Each class fixes the status and the `type` slug the counter terminal maps to its own words;
`from_revert` turns a ledger refusal (a decoded Solidity custom error) into the matching one,
carrying the ledger's sentence, so a refusal is never a 500.
"""

from __future__ import annotations

from api.errors import ApiError, Conflict, Forbidden, Gone, NotFound
from api.messages import Message
from contracts.errors import LedgerRevert


class TerminalRequestInvalid(ApiError):
    """Signing headers missing or wrong, stale timestamp, or a replayed nonce."""

    status = 401
    slug = "terminal-request-invalid"
    title = "Terminal request not accepted"


class TerminalNotRegistered(ApiError):
    """The signer is not a terminal registered on-chain."""

    status = 401
    slug = "terminal-not-registered"
    title = "Terminal not registered"


class TerminalWrongKind(Forbidden):
    """The terminal's kind (or its business's services) does not allow this endpoint."""

    slug = "terminal-wrong-kind"
    title = "Terminal of the wrong kind"


class TerminalKeyNotHeld(Forbidden):
    """The API does not hold this terminal's key, so it cannot send the terminal's transaction."""

    slug = "terminal-key-not-held"
    title = "Terminal key not held by the API"


class ActionExpired(Gone):
    """The challenge or action is unknown, used or expired."""

    slug = "challenge-expired"
    title = "Challenge or action expired"


class MykeyIdNotRegistered(NotFound):
    """No MyKey ID is bound to this certificate."""

    slug = "mykey-id-not-registered"
    title = "No MyKey ID for this card"


class MykeyIdRevoked(Forbidden):
    """The MyKey ID was revoked."""

    slug = "mykey-id-revoked"
    title = "MyKey ID revoked"


class ServiceLinkMissing(NotFound):
    """No customer number of this service for this MyKey ID."""

    slug = "service-link-missing"
    title = "No service ID linked"


class InsufficientPoints(Conflict):
    """The balance (at commit time) is below the amount; `balance` says how much there is."""

    slug = "insufficient-points"
    title = "Not enough points"


class WrongBusiness(Forbidden):
    """The business does not take this municipality's points or vouchers."""

    slug = "wrong-business"
    title = "Business does not accept these points"


class AmountInvalid(ApiError):
    """The amount is not an integer of at least 1."""

    status = 422
    slug = "amount-invalid"
    title = "Amount invalid"


class AttestationRefused(Conflict):
    """The ledger refused the platform attestation (expired, nonce used, fields differ)."""

    slug = "attestation-refused"
    title = "Attestation refused"


class LedgerRefused(Conflict):
    """The ledger refused the action for a reason the detail names."""

    slug = "ledger-refused"
    title = "Refused by the ledger"


_WRONG_BUSINESS = {"BusinessNotAccepted", "UseNotAllowedInEventAccount", "RefundWrongBusiness"}
_WRONG_KIND = {"WrongTerminalKind", "TerminalOfAnotherMember"}
_ATTESTATION = {"AttestationExpired", "AttestationNonceUsed", "AttestationMismatch"}


def from_revert(error: LedgerRevert) -> ApiError:  # noqa: PLR0911 (one return per refusal kind)
    """Return the problem a client gets for a ledger refusal (the ledger's sentence in `detail`)."""
    message = Message(f"台帳が処理を拒否しました: {error.message}", error.message)
    extensions: dict[str, object] = {"ledger_error": error.name}
    if error.name == "InsufficientPoints":
        available = error.args_by_name.get("available")
        if isinstance(available, int):
            extensions["balance"] = available
        return InsufficientPoints(message, extensions=extensions)
    if error.name in _WRONG_BUSINESS:
        return WrongBusiness(message, extensions=extensions)
    if error.name in _WRONG_KIND:
        return TerminalWrongKind(message, extensions=extensions)
    if error.name == "UnregisteredTerminal":
        return TerminalNotRegistered(message, extensions=extensions)
    if error.name == "MykeyRevoked":
        return MykeyIdRevoked(message, extensions=extensions)
    if error.name in _ATTESTATION:
        return AttestationRefused(message, extensions=extensions)
    return LedgerRefused(message, extensions=extensions)
