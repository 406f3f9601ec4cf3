"""What My Page shows of a resident's points: balances, pending reserves, and history.

Balances and reserves are read from the ledger through the chain side's reader (any object with
`municipalities`, `balance_of` and `pending_reserves`, such as `api.chain.ledger.Web3Ledger`);
history comes from the indexer's table of decoded events. Only the logged-in resident's own
MyKey ID is ever asked for. When the chain side is absent the caller shows "not yet connected";
when it fails, the ledger's `LedgerUnavailable` reaches the caller: never a guessed number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.pages.event_words import describe, municipality_name
from api.store.models import ChainEvent
from contracts.events import LedgerEvent

HISTORY_LINES = 20


class ReserveOnLedger(Protocol):
    """A pending reserve as the ledger reader returns it."""

    @property
    def reserve_id(self) -> int: ...
    @property
    def amount(self) -> int: ...
    @property
    def deadline(self) -> int: ...
    @property
    def home(self) -> int: ...
    @property
    def partner(self) -> int: ...


class PointsReader(Protocol):
    """The ledger reads My Page needs."""

    def municipalities(self) -> list[int]:
        """Every admitted municipality code."""
        ...

    def balance_of(self, mykey_id: str, municipality: int) -> int:
        """Spendable points of `mykey_id` in its regular account at `municipality`."""
        ...

    def pending_reserves(self, mykey_id: str) -> Sequence[ReserveOnLedger]:
        """Reserves of `mykey_id` not yet placed."""
        ...


@dataclass(frozen=True)
class Balance:
    """Points in one municipality's regular account."""

    municipality: str
    points: int


@dataclass(frozen=True)
class Reserve:
    """Reserved points waiting to be placed, and where they go by themselves at the deadline."""

    reserve_id: int
    amount: int
    deadline: int
    home: str
    partner: int


@dataclass(frozen=True)
class HistoryLine:
    """One event of the resident's, in words."""

    timestamp: int
    text: str
    transaction_hash: str
    expires_at: int | None
    """For a grant: when those points expire."""


@dataclass(frozen=True)
class ResidentPoints:
    """Everything My Page shows about points."""

    balances: list[Balance]
    reserves: list[Reserve]
    history: list[HistoryLine]


def read_resident_points(
    *, reader: PointsReader, db: Session, mykey_id: str, language: str
) -> ResidentPoints:
    """Return the resident's balances (non-zero ones), pending reserves and latest history.

    Raises whatever the reader raises for an outage (LedgerUnavailable).
    """
    balances = []
    for code in reader.municipalities():
        points = reader.balance_of(mykey_id, code)
        if points:
            balances.append(Balance(municipality_name(code, language), points))
    reserves = [
        Reserve(
            reserve_id=item.reserve_id,
            amount=item.amount,
            deadline=item.deadline,
            home=municipality_name(item.home, language),
            partner=item.partner,
        )
        for item in reader.pending_reserves(mykey_id)
    ]
    rows = db.scalars(
        select(ChainEvent)
        .where(ChainEvent.mykey_id == mykey_id)
        .order_by(ChainEvent.block_number.desc(), ChainEvent.log_index.desc())
        .limit(HISTORY_LINES)
    )
    history = []
    for row in rows:
        args = json.loads(row.args_json)
        event = LedgerEvent(
            contract=row.contract,
            name=row.name,
            args=args,
            block_number=row.block_number,
            transaction_hash=bytes.fromhex(row.transaction_hash[2:]),
            log_index=row.log_index,
        )
        expires = args.get("expiresAt") if row.name == "PointsGranted" else None
        history.append(
            HistoryLine(
                timestamp=row.block_timestamp,
                text=describe(event, language),
                transaction_hash=row.transaction_hash,
                expires_at=int(expires) if expires is not None else None,
            )
        )
    return ResidentPoints(balances, reserves, history)
