"""Treasurers' period statements: payables per business, receivables per partner, reconciled.

A statement is built from the indexed ledger events of one municipality and settlement period
(PointsRedeemed, PointsRefunded and VoucherRedeemed per business; ReservePlaced per partner, the
automatic homing included), each line listing the transactions behind it. `compare_with_chain`
sets each line beside the Settlement contract's own figures; `reconcile` recomputes the
statement again straight from the treasurer's node (eth_getLogs, not the index) and reports every
difference among the three. Amounts are yen (1 point = 1 yen).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.chain.side import ChainSide
from api.store.models import ChainEvent
from contracts.deploy import Deployment
from contracts.events import LedgerEvent, decode_logs

BUSINESS_EVENTS = ("PointsRedeemed", "PointsRefunded", "VoucherRedeemed")
PARTNER_EVENTS = ("ReservePlaced",)


@dataclass
class BusinessLine:
    """What the municipality owes one business for the period."""

    business: int
    redeemed: int = 0
    refunded: int = 0
    vouchers_redeemed: int = 0
    transactions: list[str] = field(default_factory=list)
    on_chain: int | None = None

    @property
    def payable(self) -> int:
        """Redeemed plus vouchers redeemed, less refunds (never below 0), as the contract does."""
        return max(0, self.redeemed + self.vouchers_redeemed - self.refunded)


@dataclass
class PartnerLine:
    """What one partner owes the municipality for the period (converted points placed there)."""

    partner: int
    converted: int = 0
    transactions: list[str] = field(default_factory=list)
    on_chain: int | None = None

    @property
    def receivable(self) -> int:
        """Yen the partner pays."""
        return self.converted


@dataclass
class Statement:
    """One municipality's statement for one period."""

    municipality: int
    period: int
    businesses: dict[int, BusinessLine] = field(default_factory=dict)
    partners: dict[int, PartnerLine] = field(default_factory=dict)

    @property
    def total_payable(self) -> int:
        """Sum of every business line."""
        return sum(line.payable for line in self.businesses.values())

    @property
    def total_receivable(self) -> int:
        """Sum of every partner line."""
        return sum(line.receivable for line in self.partners.values())

    def matches_chain(self) -> bool:
        """True when every line equals the Settlement contract's figure (after compare)."""
        return all(line.on_chain == line.payable for line in self.businesses.values()) and all(
            line.on_chain == line.receivable for line in self.partners.values()
        )


def _add(statement: Statement, name: str, counterparty: int, amount: int, tx: str) -> None:
    if name in PARTNER_EVENTS:
        partner = statement.partners.setdefault(counterparty, PartnerLine(counterparty))
        partner.converted += amount
        partner.transactions.append(tx)
        return
    line = statement.businesses.setdefault(counterparty, BusinessLine(counterparty))
    if name == "PointsRedeemed":
        line.redeemed += amount
    elif name == "PointsRefunded":
        line.refunded += amount
    else:
        line.vouchers_redeemed += amount
    line.transactions.append(tx)


def statement_from_index(db: Session, municipality: int, period: int) -> Statement:
    """Build the statement from the indexed events."""
    statement = Statement(municipality, period)
    rows = db.scalars(
        select(ChainEvent)
        .where(
            ChainEvent.municipality == municipality,
            ChainEvent.period == period,
            ChainEvent.name.in_(BUSINESS_EVENTS + PARTNER_EVENTS),
        )
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
    )
    for row in rows:
        if row.counterparty is None or row.amount is None:
            continue
        _add(statement, row.name, row.counterparty, row.amount, row.transaction_hash)
    return statement


def statement_from_node(chain: ChainSide, municipality: int, period: int) -> Statement:
    """Build the statement straight from the node's logs (no index): the reconciliation's view."""
    deployment: Deployment = chain.config.deployment
    logs = chain.w3.eth.get_logs(
        {
            "fromBlock": deployment.block_number,
            "toBlock": "finalized",
            "address": deployment.ledger,
        }
    )
    statement = Statement(municipality, period)
    for event in decode_logs(deployment, logs):
        if event.name not in BUSINESS_EVENTS + PARTNER_EVENTS:
            continue
        if _event_municipality(event) != municipality or int(event.args["period"]) != period:
            continue
        counterparty = int(event.args.get("business", event.args.get("partner", 0)))
        _add(
            statement,
            event.name,
            counterparty,
            int(event.args["amount"]),
            "0x" + event.transaction_hash.hex(),
        )
    return statement


def _event_municipality(event: LedgerEvent) -> int:
    return int(event.args["municipality"])


def compare_with_chain(chain: ChainSide, statement: Statement) -> Statement:
    """Fill each line's `on_chain` from the Settlement contract (adding lines only it has)."""
    m, p = statement.municipality, statement.period
    for business in chain.ledger.businesses_in(m, p):
        statement.businesses.setdefault(business, BusinessLine(business))
    for partner in chain.ledger.partners_in(m, p):
        statement.partners.setdefault(partner, PartnerLine(partner))
    for line in statement.businesses.values():
        line.on_chain = chain.ledger.payable_to(m, p, line.business)
    for partner_line in statement.partners.values():
        partner_line.on_chain = chain.ledger.receivable_from(m, p, partner_line.partner)
    return statement


@dataclass(frozen=True)
class Difference:
    """One line whose figures disagree between the index, the node's logs and the contract."""

    side: str
    counterparty: int
    index: int
    node_logs: int
    contract: int | None


def reconcile(db: Session, chain: ChainSide, municipality: int, period: int) -> list[Difference]:
    """Recompute the statement from the node and return every line that differs (empty = ok)."""
    indexed = compare_with_chain(chain, statement_from_index(db, municipality, period))
    fresh = statement_from_node(chain, municipality, period)
    differences = []
    for business in sorted(set(indexed.businesses) | set(fresh.businesses)):
        ours = indexed.businesses.get(business, BusinessLine(business))
        theirs = fresh.businesses.get(business, BusinessLine(business))
        contract = ours.on_chain
        if not ours.payable == theirs.payable == contract:
            differences.append(
                Difference("business", business, ours.payable, theirs.payable, contract)
            )
    for partner in sorted(set(indexed.partners) | set(fresh.partners)):
        ours_p = indexed.partners.get(partner, PartnerLine(partner))
        theirs_p = fresh.partners.get(partner, PartnerLine(partner))
        if not ours_p.receivable == theirs_p.receivable == ours_p.on_chain:
            differences.append(
                Difference(
                    "partner", partner, ours_p.receivable, theirs_p.receivable, ours_p.on_chain
                )
            )
    return differences


def statement_csv(statement: Statement) -> str:
    """Return the statement as CSV: one row per line, with its transactions."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "municipality",
            "period",
            "side",
            "counterparty",
            "redeemed",
            "refunded",
            "vouchers_redeemed",
            "amount",
            "on_chain",
            "transactions",
        ]
    )
    code = f"{statement.municipality:05d}"
    for line in sorted(statement.businesses.values(), key=lambda item: item.business):
        writer.writerow(
            [
                code,
                statement.period,
                "payable",
                line.business,
                line.redeemed,
                line.refunded,
                line.vouchers_redeemed,
                line.payable,
                "" if line.on_chain is None else line.on_chain,
                " ".join(line.transactions),
            ]
        )
    for partner in sorted(statement.partners.values(), key=lambda item: item.partner):
        writer.writerow(
            [
                code,
                statement.period,
                "receivable",
                partner.partner,
                "",
                "",
                "",
                partner.receivable,
                "" if partner.on_chain is None else partner.on_chain,
                " ".join(partner.transactions),
            ]
        )
    return out.getvalue()
