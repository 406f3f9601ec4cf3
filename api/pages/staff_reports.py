"""What the staff console reads from the private store: recent grants and points granted per day.

Days are Japan's calendar days (UTC+9, no daylight saving), since staff count a day's volunteers
in local time. Only grants that reached the ledger (`granted`) are counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services.grants import GrantState
from api.store.models import Grant

JST = timezone(timedelta(hours=9), "JST")
DAY = 86400


@dataclass(frozen=True)
class DailyTotal:
    """Points granted on one day."""

    day: str
    """ISO date in Japan time, e.g. 2026-11-28."""
    points: int


def points_granted_per_day(
    *, db: Session, municipality: str, now: int, days: int = 14
) -> list[DailyTotal]:
    """Return one total per day for the last `days` days up to `now` (oldest first, zeros kept)."""
    today = datetime.fromtimestamp(now, JST).date()
    first = today - timedelta(days=days - 1)
    start = int(datetime(first.year, first.month, first.day, tzinfo=JST).timestamp())
    totals = {first + timedelta(days=offset): 0 for offset in range(days)}
    rows = db.execute(
        select(Grant.created_at, Grant.points).where(
            Grant.municipality == municipality,
            Grant.state == GrantState.GRANTED,
            Grant.created_at >= start,
        )
    ).all()
    for created_at, points in rows:
        day = datetime.fromtimestamp(created_at, UTC).astimezone(JST).date()
        if day in totals:
            totals[day] += points
    return [DailyTotal(day.isoformat(), points) for day, points in totals.items()]


def recent_grants(*, db: Session, municipality: str, limit: int = 20) -> list[Grant]:
    """Return the municipality's latest grants, newest first."""
    return list(
        db.scalars(
            select(Grant)
            .where(Grant.municipality == municipality)
            .order_by(Grant.id.desc())
            .limit(limit)
        )
    )
