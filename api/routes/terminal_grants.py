"""Granting terminal endpoints (`/terminal/v1/grants`, `/grant-batches`): signed, per terminal.

A municipality's management terminal, or a mobile granting terminal at an event, grants
administrative points (DOMAIN.md flow 3). Requests are signed as every terminal request is
(docs/terminal-requests.md); the flow is api.chain.terminal_grants (the staff grant path, sent
from the terminal's own on-chain account). `reference` is the terminal's idempotency key: the
same terminal and reference never grant twice, so a counter may retry a request whose answer it
did not get.
"""

from __future__ import annotations

import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.chain.ledger import TerminalRegistration
from api.chain.terminal_grants import (
    MAX_BATCH_LINES,
    TerminalGrantContext,
    TerminalGrantLine,
    TerminalGrantResult,
    grant_line,
    grant_lines,
    raise_for_single,
    terminal_granting_context,
)
from api.deps import DbDep, ServicesDep
from api.errors import InvalidFields
from api.problems import PROBLEM_TYPE_PREFIX, preferred_language
from api.routes.terminals import ChainDep, signed_terminal
from api.schemas.problems import FieldProblem, Problem
from api.services.grants import ACTIVITIES, GrantOutcome
from contracts.domain import TerminalKind, end_of_jst_day, format_code

router = APIRouter(
    prefix="/terminal/v1",
    tags=["terminals"],
    responses={
        401: {"model": Problem, "description": "Unsigned, stale or replayed request."},
        403: {"model": Problem, "description": "Not a granting terminal (terminal-wrong-kind)."},
        503: {"model": Problem, "description": "Ledger unavailable; nothing was granted."},
    },
)

GrantingTerminal = Annotated[TerminalRegistration, Depends(signed_terminal(TerminalKind.GRANTING))]

_ACTIVITY_WORDS = ", ".join(ACTIVITIES)


class TerminalGrantIn(BaseModel):
    """One grant: whom, how many points, for what, into which account, under which reference."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mykey_id": "DEMOA001",
                    "amount": 200,
                    "activity": "volunteering",
                    "account": 0,
                    "reference": "cleanup-2027-04-01-0001",
                }
            ]
        }
    )
    mykey_id: str = Field(max_length=16, description="The resident's MyKey ID (8 characters).")
    amount: int = Field(description="Whole points, 1 to 100,000.")
    activity: str = Field(max_length=32, description=f"One of: {_ACTIVITY_WORDS}.")
    account: int = Field(
        default=0, ge=0, le=2**32 - 1, description="0 the regular account, else an event account."
    )
    reference: str = Field(
        pattern=r"^[\x21-\x7e]{1,64}$",
        description="The terminal's own reference (printable ASCII); the same one never grants "
        "twice from this terminal.",
    )


class TerminalGrantOut(BaseModel):
    """A final grant (or the earlier one under the same reference)."""

    outcome: str = Field(description="granted, or already-granted for a repeated reference")
    mykey_id: str
    municipality_code: str
    account: int
    amount: int
    activity: str
    reference: str
    transaction_hash: str
    balance: int = Field(description="The resident's points in that account after the grant.")
    expires_at: int | None = Field(description="When the granted points expire (Unix seconds).")
    expires_on: str | None = Field(description="Their last day (YYYY-MM-DD, Japan time).")


class TerminalGrantBatchIn(BaseModel):
    """Up to 500 grants, each independent (a day's volunteers at a mobile terminal)."""

    lines: list[TerminalGrantIn] = Field(min_length=1, max_length=MAX_BATCH_LINES)


class TerminalGrantLineOut(BaseModel):
    """The result of one line: granted, already-granted, refused (with why) or in-doubt."""

    line: int
    outcome: str
    mykey_id: str
    amount: int
    reference: str
    transaction_hash: str | None = None
    balance: int | None = None
    expires_at: int | None = None
    problem_type: str | None = Field(default=None, description="The refusal's problem type.")
    detail: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)


class TerminalGrantBatchOut(BaseModel):
    """Per-line results and counts."""

    municipality_code: str
    granted: int
    already_granted: int
    refused: int
    in_doubt: int
    points_granted: int
    lines: list[TerminalGrantLineOut]


def _context(
    terminal: TerminalRegistration, services: ServicesDep, db: DbDep, chain: ChainDep
) -> TerminalGrantContext:
    return terminal_granting_context(
        terminal=terminal,
        ledger=chain.ledger,
        db=db,
        now=services.clock.now(),
        mail_domain=services.mail_domain,
    )


def _line(body: TerminalGrantIn) -> TerminalGrantLine:
    return TerminalGrantLine(
        body.mykey_id, body.amount, body.activity, body.account, body.reference
    )


def _expires_on(expires_at: int | None) -> str | None:
    """The last day points are usable: the JST day that ends at `expires_at`."""
    if expires_at is None:
        return None
    return _jst_day(end_of_jst_day(expires_at - 1) - 1)


def _jst_day(timestamp: int) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp + 9 * 3600, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d")


@router.post(
    "/grants",
    status_code=status.HTTP_201_CREATED,
    summary="Grant administrative points from a granting terminal",
    response_model=TerminalGrantOut,
    responses={
        200: {"model": TerminalGrantOut, "description": "Already granted under this reference."},
        404: {"model": Problem, "description": "mykey-id-unknown."},
        409: {
            "model": Problem,
            "description": "grant-budget-exceeded, municipality-paused, event-account-closed, "
            "mykey-id-revoked (403), submission-in-doubt.",
        },
        422: {"model": Problem, "description": "amount-invalid or invalid-fields."},
    },
)
def grant(
    *,
    body: TerminalGrantIn,
    terminal: GrantingTerminal,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
    response: Response,
) -> TerminalGrantOut:
    """Grant to one resident, sent from this terminal's on-chain account; answer once final."""
    context = _context(terminal, services, db, chain)
    result = grant_line(context=context, line=_line(body))
    raise_for_single(result)
    if result.outcome is GrantOutcome.ALREADY_GRANTED:
        response.status_code = status.HTTP_200_OK
    assert result.transaction_hash is not None and result.balance is not None  # granted
    return TerminalGrantOut(
        outcome=result.outcome.value,
        mykey_id=body.mykey_id,
        municipality_code=format_code(result.municipality),
        account=body.account,
        amount=body.amount,
        activity=body.activity,
        reference=body.reference,
        transaction_hash=result.transaction_hash,
        balance=result.balance,
        expires_at=result.expires_at,
        expires_on=_expires_on(result.expires_at),
    )


@router.post(
    "/grant-batches",
    summary="Grant administrative points to up to 500 residents, each line on its own",
    response_model=TerminalGrantBatchOut,
)
def grant_batch(
    *,
    request: Request,
    body: TerminalGrantBatchIn,
    terminal: GrantingTerminal,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> TerminalGrantBatchOut:
    """Each line is granted or refused on its own; the answer says which and why, by line."""
    context = _context(terminal, services, db, chain)
    results = grant_lines(context=context, lines=[_line(line) for line in body.lines])
    language = preferred_language(request)

    def line_out(result: TerminalGrantResult) -> TerminalGrantLineOut:
        problem = result.problem
        errors = problem.errors if isinstance(problem, InvalidFields) else result.errors
        return TerminalGrantLineOut(
            line=result.line,
            outcome=result.outcome.value,
            mykey_id=result.request.mykey_id,
            amount=result.request.amount,
            reference=result.request.reference,
            transaction_hash=result.transaction_hash,
            balance=result.balance,
            expires_at=result.expires_at,
            problem_type=PROBLEM_TYPE_PREFIX + problem.slug if problem else None,
            detail=problem.message.in_language(language) if problem else None,
            errors=[
                FieldProblem(
                    field=error.field, code=error.code, message=error.message.in_language(language)
                )
                for error in errors
            ],
        )

    def count(outcome: GrantOutcome) -> int:
        return sum(result.outcome is outcome for result in results)

    return TerminalGrantBatchOut(
        municipality_code=format_code(int(context.municipality)),
        granted=count(GrantOutcome.GRANTED),
        already_granted=count(GrantOutcome.ALREADY_GRANTED),
        refused=count(GrantOutcome.REFUSED),
        in_doubt=count(GrantOutcome.IN_DOUBT),
        points_granted=sum(
            result.request.amount for result in results if result.outcome is GrantOutcome.GRANTED
        ),
        lines=[line_out(result) for result in results],
    )
