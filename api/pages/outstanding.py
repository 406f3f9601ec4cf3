"""Outstanding points per municipality: the definition, the ledger's figure, and a figure per day.

Definition, from `PointLedger.Totals` (contracts/src/PointLedger.sol), for municipality m:

    outstanding = granted + converted + refunded - redeemed - vouchered - expired

that is, the points the ledger has recorded in residents' accounts at m (regular and event
accounts) and not yet spent at a business, turned into a voucher, or recorded as expired. It is
exactly the sum of every resident's recorded lots (`lotsOf`) at m. Spendable balances
(`balanceOf`) differ from it only while something waits to be recorded: a lot past its expiry
stops counting at once but is recorded as expired at the account's next change or sweep, and
reserved points past their deadline count at home before `sweepReserves` records them. Vouchers
are counted apart: `vouchers_outstanding = vouchered - vouchersRedeemed` (issued, not yet used;
an expired unused voucher stays in it, as the contract keeps no separate count for those).

Invariant that makes the chart honest: each Totals field moves only together with exactly one
event carrying the same amount (TOTAL_EVENTS), so the per-day figures rebuilt here from the
indexed events end at the ledger's own totals once the indexer has caught up. Days are Japan's
calendar days (UTC+9).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.indexer.follower import CURSOR_NAME
from api.store.models import ChainCursor, ChainEvent

JST = timezone(timedelta(hours=9), "JST")

TOTAL_EVENTS: dict[str, str] = {
    "PointsGranted": "granted",
    "ReservePlaced": "converted",
    "PointsRefunded": "refunded",
    "PointsRedeemed": "redeemed",
    "VoucherIssued": "vouchered",
    "PointsExpired": "expired",
    "VoucherRedeemed": "vouchers_redeemed",
}
"""The event that moves each Totals field, by the same amount, in the same transaction."""

OUTSTANDING_SIGN: dict[str, int] = {
    "PointsGranted": 1,
    "ReservePlaced": 1,
    "PointsRefunded": 1,
    "PointsRedeemed": -1,
    "VoucherIssued": -1,
    "PointsExpired": -1,
}
"""How each event moves `outstanding` (VoucherRedeemed moves only the vouchers' count)."""

CHART_DAYS = 14


@dataclass(frozen=True)
class LedgerTotals:
    """A municipality's `PointLedger.totalsOf(m)`, field by field (points)."""

    granted: int
    converted: int
    redeemed: int
    refunded: int
    vouchered: int
    expired: int
    vouchers_redeemed: int

    @property
    def outstanding(self) -> int:
        """Points recorded in residents' accounts and not yet spent, vouchered or expired."""
        return (
            self.granted
            + self.converted
            + self.refunded
            - self.redeemed
            - self.vouchered
            - self.expired
        )

    @property
    def vouchers_outstanding(self) -> int:
        """Points in vouchers issued and not yet redeemed."""
        return self.vouchered - self.vouchers_redeemed


@dataclass(frozen=True)
class DayFigures:
    """One Japan calendar day of a municipality's points, from the indexed events."""

    day: str
    """ISO date in Japan time, e.g. 2026-11-28."""
    granted: int
    redeemed: int
    other_change: int
    """Converted + refunded - vouchered - expired that day: the rest of the day's change."""
    outstanding: int
    """At the end of the day (everything indexed up to then): the day before's outstanding
    + granted - redeemed + other_change."""


def _jst_midnight(day: datetime) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=JST).timestamp())


def daily_figures(
    *, db: Session, municipality: int, now: int, days: int = CHART_DAYS
) -> list[DayFigures]:
    """Return one DayFigures per day for the `days` days up to `now`, oldest first.

    Days with no events are kept (zero granted and redeemed, outstanding carried over), so the
    bars line up with the calendar.
    """
    today = datetime.fromtimestamp(now, JST)
    first = today - timedelta(days=days - 1)
    start = _jst_midnight(first)
    names = list(OUTSTANDING_SIGN)
    before = db.execute(
        select(ChainEvent.name, func.sum(ChainEvent.amount))
        .where(
            ChainEvent.municipality == municipality,
            ChainEvent.name.in_(names),
            ChainEvent.block_timestamp < start,
        )
        .group_by(ChainEvent.name)
    ).all()
    outstanding = 0
    for name, amount in before:
        outstanding += OUTSTANDING_SIGN[name] * int(amount or 0)
    rows = db.execute(
        select(ChainEvent.name, ChainEvent.amount, ChainEvent.block_timestamp).where(
            ChainEvent.municipality == municipality,
            ChainEvent.name.in_(names),
            ChainEvent.block_timestamp >= start,
        )
    ).all()
    per_day: dict[int, list[tuple[str, int]]] = {}
    for name, amount, timestamp in rows:
        index = (int(timestamp) - start) // 86400
        per_day.setdefault(index, []).append((name, int(amount or 0)))
    figures = []
    for index in range(days):
        granted = redeemed = other = 0
        for name, amount in per_day.get(index, []):
            outstanding += OUTSTANDING_SIGN[name] * amount
            if name == "PointsGranted":
                granted += amount
            elif name == "PointsRedeemed":
                redeemed += amount
            else:
                other += OUTSTANDING_SIGN[name] * amount
        day = (first + timedelta(days=index)).date().isoformat()
        figures.append(DayFigures(day, granted, redeemed, other, outstanding))
    return figures


def indexed_through(db: Session) -> int | None:
    """Return the last block the indexer has stored, or None when it has stored none."""
    cursor = db.get(ChainCursor, CURSOR_NAME)
    return None if cursor is None else cursor.next_block - 1
