"""Treasurers: period statements equal to the on-chain ones, close, payments, CSV, reconciliation.

A treasurer's account belongs to one municipality (its `organisation`); every statement is
brought up to the node's finalized head first (the indexer catches up inside the request), so
what the treasurer sees is what the Settlement contract holds at that moment.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from api.chain import settlement
from api.chain.statements import (
    Statement,
    compare_with_chain,
    reconcile,
    statement_csv,
    statement_from_index,
)
from api.deps import DbDep, ServicesDep, staff_with_roles
from api.errors import Forbidden
from api.indexer.follower import ChainIndexer
from api.messages import Message
from api.routes.terminals import ChainDep
from api.services.staff import StaffRole, staff_actor
from api.store.models import StaffAccount

router = APIRouter(prefix="/treasurers", tags=["treasurers"])
Treasurer = Annotated[StaffAccount, Depends(staff_with_roles(StaffRole.TREASURER))]


class BusinessLineOut(BaseModel):
    """What the municipality owes one business."""

    business: int
    redeemed: int
    refunded: int
    vouchers_redeemed: int
    payable: int
    on_chain: int | None
    transactions: list[str]


class PartnerLineOut(BaseModel):
    """What one partner owes the municipality."""

    partner: int
    receivable: int
    on_chain: int | None
    transactions: list[str]


class StatementOut(BaseModel):
    """A period statement beside the contract's own figures."""

    municipality: str
    period: int
    businesses: list[BusinessLineOut]
    partners: list[PartnerLineOut]
    total_payable: int
    total_receivable: int
    matches_chain: bool


class PeriodOut(BaseModel):
    """The municipality's open settlement period."""

    municipality: str
    period: int


class TransactionOut(BaseModel):
    """A final ledger transaction."""

    transaction_hash: str


class PaymentIn(BaseModel):
    """A bank transfer settling one line of a closed period, in full."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"side": "business", "counterparty": 3, "amount": 400, "bank_reference": "TX-1"}
            ]
        }
    )
    side: Literal["business", "partner"]
    counterparty: int = Field(ge=1)
    amount: int = Field(ge=1)
    bank_reference: str = Field(min_length=1, max_length=128)


class DifferenceOut(BaseModel):
    """One line whose figures disagree."""

    side: str
    counterparty: int
    index: int
    node_logs: int
    contract: int | None


class ReconciliationOut(BaseModel):
    """The reconciliation check's verdict."""

    municipality: str
    period: int
    ok: bool
    differences: list[DifferenceOut]


def _municipality(staff: StaffAccount) -> int:
    organisation = staff.organisation or ""
    if len(organisation) != 5 or not organisation.isdigit():
        raise Forbidden(
            Message(
                "この会計担当アカウントには自治体が設定されていません。",
                f"treasurer account {staff.login_name} belongs to no municipality",
            )
        )
    return int(organisation)


def _caught_up(request: Request) -> None:
    indexer: ChainIndexer | None = getattr(request.app.state, "indexer", None)
    if indexer is not None:
        indexer.catch_up()


def _out(statement: Statement) -> StatementOut:
    return StatementOut(
        municipality=f"{statement.municipality:05d}",
        period=statement.period,
        businesses=[
            BusinessLineOut(
                business=line.business,
                redeemed=line.redeemed,
                refunded=line.refunded,
                vouchers_redeemed=line.vouchers_redeemed,
                payable=line.payable,
                on_chain=line.on_chain,
                transactions=line.transactions,
            )
            for line in sorted(statement.businesses.values(), key=lambda item: item.business)
        ],
        partners=[
            PartnerLineOut(
                partner=line.partner,
                receivable=line.receivable,
                on_chain=line.on_chain,
                transactions=line.transactions,
            )
            for line in sorted(statement.partners.values(), key=lambda item: item.partner)
        ],
        total_payable=statement.total_payable,
        total_receivable=statement.total_receivable,
        matches_chain=statement.matches_chain(),
    )


@router.get("/periods/current", summary="The open settlement period", response_model=PeriodOut)
def current_period(staff: Treasurer, chain: ChainDep) -> PeriodOut:
    """Return the municipality's open period number."""
    municipality = _municipality(staff)
    return PeriodOut(
        municipality=f"{municipality:05d}", period=chain.ledger.current_period(municipality)
    )


@router.get("/periods/{period}/statement", summary="Period statement", response_model=StatementOut)
def statement(
    period: int, request: Request, staff: Treasurer, db: DbDep, chain: ChainDep
) -> StatementOut:
    """Payables per business and receivables per partner, each beside the contract's figure."""
    _caught_up(request)
    built = statement_from_index(db, _municipality(staff), period)
    return _out(compare_with_chain(chain, built))


@router.get(
    "/periods/{period}/statement.csv",
    summary="Period statement as CSV",
    response_class=PlainTextResponse,
)
def statement_as_csv(
    period: int, request: Request, staff: Treasurer, db: DbDep, chain: ChainDep
) -> PlainTextResponse:
    """The statement, one row per line, with its transactions."""
    _caught_up(request)
    built = compare_with_chain(chain, statement_from_index(db, _municipality(staff), period))
    return PlainTextResponse(statement_csv(built), media_type="text/csv; charset=utf-8")


@router.post(
    "/periods/{period}/close", summary="Close the open period", response_model=TransactionOut
)
def close(
    period: int, staff: Treasurer, services: ServicesDep, db: DbDep, chain: ChainDep
) -> TransactionOut:
    """Close the period on-chain (its statement becomes final); audited."""
    transaction_hash = settlement.close_period(
        db=db,
        chain=chain,
        actor=staff_actor(staff),
        municipality=_municipality(staff),
        period=period,
        now=services.clock.now(),
    )
    return TransactionOut(transaction_hash=transaction_hash)


@router.post(
    "/periods/{period}/payments", summary="Record a payment", response_model=TransactionOut
)
def record_payment(
    *,
    period: int,
    body: PaymentIn,
    staff: Treasurer,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> TransactionOut:
    """Record the bank transfer settling one line; only the reference's hash goes on-chain."""
    transaction_hash = settlement.record_payment(
        db=db,
        chain=chain,
        actor=staff_actor(staff),
        municipality=_municipality(staff),
        period=period,
        side=body.side,
        counterparty=body.counterparty,
        amount=body.amount,
        bank_reference=body.bank_reference,
        now=services.clock.now(),
    )
    return TransactionOut(transaction_hash=transaction_hash)


@router.get(
    "/periods/{period}/reconciliation",
    summary="Recompute the statement from the node and report differences",
    response_model=ReconciliationOut,
)
def reconciliation(
    period: int, request: Request, staff: Treasurer, db: DbDep, chain: ChainDep
) -> ReconciliationOut:
    """Compare the index, the node's logs and the contract line by line."""
    _caught_up(request)
    municipality = _municipality(staff)
    differences = reconcile(db, chain, municipality, period)
    return ReconciliationOut(
        municipality=f"{municipality:05d}",
        period=period,
        ok=not differences,
        differences=[DifferenceOut(**vars(d)) for d in differences],
    )
