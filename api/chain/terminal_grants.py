"""Grants from granting terminals (DOMAIN.md flow 3): the staff grant path, sent as the terminal.

A granting terminal (kind GRANTING, owned by a municipality: its management terminal, or a
mobile one at an event) signs its request; each line goes through `api.services.grants.grant_one`,
the code path of staff grants, so it gets the same claim-before-send idempotency, audit record
and "points granted" notice. Only the ledger differs: `TerminalGrantLedger` sends
`PointLedger.grant` from the terminal's own on-chain account, into the account the line names.

Invariants:
- the idempotency key is `terminal:<address>:<reference>`: a retried request (new nonce, same
  reference) never grants twice, and two terminals' references never collide;
- the municipality is always the terminal's owner (the contract checks it again);
- a ledger refusal keeps its own problem type (`grant_refusal`), per line in a batch too;
- the API grants only through terminals whose key it holds (see "Who signs the transaction" in
  docs/terminal-requests.md); for any other terminal nothing is claimed or sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from api.chain.errors import AmountInvalid, TerminalWrongKind, from_revert
from api.chain.ledger import GrantedPoints, TerminalRegistration, Web3Ledger
from api.chain.terminal_requests import KIND_WORDS, require_held_key
from api.errors import (
    ApiError,
    Conflict,
    FieldError,
    Forbidden,
    GrantRefused,
    InvalidFields,
    LedgerUnavailable,
    NotFound,
    SubmissionInDoubt,
)
from api.identifiers import MunicipalityCode, MykeyId
from api.messages import Message
from api.municipalities import MUNICIPALITIES
from api.ports import Points, TransactionHash
from api.services.audit import Actor, ActorKind
from api.services.grants import (
    MAX_POINTS_PER_GRANT,
    GrantingContext,
    GrantLine,
    GrantOutcome,
    grant_one,
)
from contracts.domain import TerminalKind, format_code
from contracts.errors import LedgerRevert

MAX_BATCH_LINES = 500
"""Lines in one terminal batch: a day's event at a mobile terminal, answered in one request."""
MEMBER_MUNICIPALITY = 2
"""Kinds.MEMBER_MUNICIPALITY: granting terminals belong to a municipality."""


class MykeyIdUnknown(NotFound):
    """No MyKey ID of that text is registered on the ledger."""

    slug = "mykey-id-unknown"
    title = "MyKey ID unknown"


class GrantBudgetExceeded(Conflict):
    """The grant would take the municipality over its fiscal-year grant budget."""

    slug = "grant-budget-exceeded"
    title = "Over the fiscal-year grant budget"


class MunicipalityPaused(Conflict):
    """The municipality has stopped every point movement (emergency pause)."""

    slug = "municipality-paused"
    title = "Municipality paused"


class EventAccountClosed(Conflict):
    """The event account is unknown, not yet open or already closed."""

    slug = "event-account-closed"
    title = "Event account not open"


_REFUSALS: dict[str, type[ApiError]] = {
    "MykeyUnknown": MykeyIdUnknown,
    "ZeroAmount": AmountInvalid,
    "OverBudget": GrantBudgetExceeded,
    "MunicipalityPaused": MunicipalityPaused,
    "EventAccountClosed": EventAccountClosed,
    "EventAccountUnknown": EventAccountClosed,
}
"""Grant refusals with a type of their own here; the rest as every terminal endpoint maps them."""
_SHARED = {"MykeyRevoked", "WrongTerminalKind", "TerminalOfAnotherMember", "UnregisteredTerminal"}
_BUDGET_FIELDS = ("cap", "alreadyGranted", "fiscalYear")


def grant_refusal(error: LedgerRevert) -> ApiError:
    """Return the problem for a refused grant: its own type, the ledger's sentence as detail."""
    if error.name in _SHARED:
        return from_revert(error)
    message = Message(f"台帳が付与を拒否しました: {error.message}", error.message)
    extensions: dict[str, object] = {"ledger_error": error.name}
    for name in _BUDGET_FIELDS if error.name == "OverBudget" else ():
        value = error.args_by_name.get(name)
        if isinstance(value, int):
            extensions[name] = value
    return _REFUSALS.get(error.name, GrantRefused)(message, extensions=extensions)


class TerminalGrantLedger:
    """A `PointsLedger` for one line: grants as `terminal` into `account`.

    It keeps what `grant_one` does not carry back: the typed refusal (`refusal`) and the
    grant's event (`granted`, with the expiry).
    """

    def __init__(self, ledger: Web3Ledger, terminal: str, account: int) -> None:
        self.ledger = ledger
        self.terminal = terminal
        self.account = account
        self.refusal: ApiError | None = None
        self.granted: GrantedPoints | None = None

    def grant_points(
        self,
        *,
        mykey_id: MykeyId,
        municipality: MunicipalityCode,
        points: Points,
        activity: str,
        reference: bytes,
    ) -> TransactionHash:
        """Send the grant as the terminal; GrantRefused (typed one kept) when refused."""
        try:
            self.granted = self.ledger.grant_from_terminal(
                self.terminal,
                mykey_id=mykey_id,
                municipality=int(municipality),
                account=self.account,
                points=int(points),
                activity=activity,
                reference=reference,
                refused=grant_refusal,
            )
        except (LedgerUnavailable, SubmissionInDoubt):
            raise
        except ApiError as error:
            self.refusal = error
            # grant_one releases the claim for a GrantRefused: nothing moved on the ledger
            raise GrantRefused(error.message) from error
        return self.granted.transaction_hash


@dataclass(frozen=True)
class TerminalGrantLine:
    """One grant a terminal asks for (not yet validated)."""

    mykey_id: str
    amount: int
    activity: str
    account: int
    reference: str


@dataclass(frozen=True)
class TerminalGrantResult:
    """What became of one line; `problem` is the refusal (or doubt) when there is one."""

    line: int
    request: TerminalGrantLine
    outcome: GrantOutcome
    municipality: int
    transaction_hash: str | None = None
    balance: int | None = None
    expires_at: int | None = None
    errors: list[FieldError] = field(default_factory=list)
    problem: ApiError | None = None


@dataclass(frozen=True)
class TerminalGrantContext:
    """The terminal that grants, the ledger it grants on, the store, the time."""

    terminal: TerminalRegistration
    municipality: MunicipalityCode
    ledger: Web3Ledger
    db: Session
    now: int
    mail_domain: str


def terminal_granting_context(
    *,
    terminal: TerminalRegistration,
    ledger: Web3Ledger,
    db: Session,
    now: int,
    mail_domain: str,
) -> TerminalGrantContext:
    """Check the terminal may grant through the API; return its context.

    Raises TerminalWrongKind (not a municipality's granting terminal), TerminalKeyNotHeld (the
    API holds no key for it) or Forbidden (its municipality is not one this API serves).
    """
    if terminal.kind is not TerminalKind.GRANTING or terminal.owner_kind != MEMBER_MUNICIPALITY:
        raise TerminalWrongKind(
            Message(
                "この端末の種類ではこの操作はできません。",
                f"terminal {terminal.address} is a {KIND_WORDS[terminal.kind]} terminal; "
                "granting needs a municipality's granting terminal",
            )
        )
    require_held_key(
        ledger,
        terminal.address,
        Message(
            "この付与端末の鍵がAPIに登録されていません。管理者に連絡してください。",
            f"the API holds no key for granting terminal {terminal.address}: its "
            "municipality must add the terminal's keystore to the API's key ring",
        ),
    )
    code = format_code(terminal.owner_id)
    if code not in {item.code for item in MUNICIPALITIES}:
        raise Forbidden(
            Message(
                "この自治体はAPIの対象になっていません。",
                f"municipality {code} of terminal {terminal.address} is not served by this API",
            )
        )
    return TerminalGrantContext(
        terminal=terminal,
        municipality=MunicipalityCode(code),
        ledger=ledger,
        db=db,
        now=now,
        mail_domain=mail_domain,
    )


def idempotency_key(terminal: str, reference: str) -> str:
    """The store's key of a terminal's grant: per terminal, per reference."""
    return f"terminal:{terminal.lower()}:{reference}"


def grant_line(
    *, context: TerminalGrantContext, line: TerminalGrantLine, line_number: int = 1
) -> TerminalGrantResult:
    """Grant one line as the terminal; never raises for the line's own faults.

    Raises LedgerUnavailable (nothing sent for this line; earlier lines stay granted).
    """
    adapter = TerminalGrantLedger(context.ledger, context.terminal.address, line.account)
    granting = GrantingContext(
        db=context.db,
        ledger=adapter,
        # the same actor as the terminal's other actions (api.chain.actions, api.chain.lookups)
        actor=Actor(ActorKind.SYSTEM, f"terminal {context.terminal.address}"),
        municipality=context.municipality,
        now=context.now,
        mail_domain=context.mail_domain,
    )
    result = grant_one(
        context=granting,
        line=GrantLine(line.mykey_id, str(line.amount), line.activity),
        idempotency_key=idempotency_key(context.terminal.address, line.reference),
        line_number=line_number,
    )
    municipality = int(context.municipality)
    errors = [_as_request_field(error) for error in result.errors]
    if result.outcome is GrantOutcome.REFUSED:
        return TerminalGrantResult(
            line_number,
            line,
            result.outcome,
            municipality,
            errors=errors,
            problem=adapter.refusal or _line_problem(errors),
        )
    if result.outcome is GrantOutcome.IN_DOUBT:
        reason = result.reason or Message("結果を確認できません。", "The outcome is not known.")
        return TerminalGrantResult(
            line_number, line, result.outcome, municipality, problem=SubmissionInDoubt(reason)
        )
    assert result.transaction_hash is not None  # granted now or before
    granted = adapter.granted or context.ledger.points_granted(result.transaction_hash)
    account = granted.account if granted is not None else line.account
    return TerminalGrantResult(
        line_number,
        line,
        result.outcome,
        municipality,
        transaction_hash=result.transaction_hash,
        balance=context.ledger.balance_in(line.mykey_id, municipality, account),
        expires_at=granted.expires_at if granted is not None else None,
    )


def grant_lines(
    *, context: TerminalGrantContext, lines: list[TerminalGrantLine]
) -> list[TerminalGrantResult]:
    """Grant every line independently (a refused line does not stop the others).

    Raises InvalidFields for more than MAX_BATCH_LINES lines (nothing granted then) and
    LedgerUnavailable when the ledger goes away mid-batch (the lines before stay granted; the
    same batch sent again reports them `already-granted` and grants the rest).
    """
    if not 1 <= len(lines) <= MAX_BATCH_LINES:
        raise InvalidFields(
            [
                FieldError(
                    "lines",
                    "batch-size",
                    Message(
                        f"1行以上{MAX_BATCH_LINES}行以下で送ってください。",
                        f"send from 1 to {MAX_BATCH_LINES} lines, not {len(lines)}",
                    ),
                )
            ]
        )
    return [
        grant_line(context=context, line=line, line_number=number)
        for number, line in enumerate(lines, start=1)
    ]


def raise_for_single(result: TerminalGrantResult) -> None:
    """Raise the problem of a refused or doubtful single grant; return for a granted one."""
    if result.problem is not None:
        raise result.problem


_FIELD_NAMES = {"points": "amount", "idempotency_key": "reference"}


def _as_request_field(error: FieldError) -> FieldError:
    """Name the field as the terminal's request does (amount, reference)."""
    return FieldError(_FIELD_NAMES.get(error.field, error.field), error.code, error.message)


def _line_problem(errors: list[FieldError]) -> ApiError:
    """A line refused before the ledger: AmountInvalid when only the amount is wrong."""
    if errors and all(error.field == "amount" for error in errors):
        return AmountInvalid(
            Message(
                f"付与ポイントは1以上{MAX_POINTS_PER_GRANT:,}以下で入力してください。",
                f"amount must be a whole number from 1 to {MAX_POINTS_PER_GRANT}",
            )
        )
    return InvalidFields(errors)
