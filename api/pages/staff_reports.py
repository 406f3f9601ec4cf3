"""What the staff console shows of its own municipality: its grants and the day-by-day figures.

Two sources, kept apart on the page. The console's own grant records (`points_granted_per_day`,
`recent_grants`) count what staff granted here, at once, before the ledger's events are indexed;
only grants that reached the ledger (`granted`) are counted. The ledger figures
(`municipality_figures`) are exactly the explorer's (`api.pages.outstanding.daily_figures`,
rebuilt from the indexed ledger events), so staff and a resident on the explorer read the same
numbers. Days are Japan's calendar days (UTC+9).

Invariants: a console only ever asks for the staff member's own municipality (the caller passes
the staff account's municipality, never a code from the request); every chart is drawn from the
same `DayFigures` list that the table under it prints, so picture and text cannot disagree; the
period is one of CHART_PERIODS, anything else falls back to the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.messages import Message
from api.municipalities import Municipality
from api.pages.day_charts import ChartNames, movement_chart, outstanding_chart
from api.pages.outstanding import DayFigures, daily_figures, indexed_through
from api.services.grants import GrantState
from api.store.models import Grant

JST = timezone(timedelta(hours=9), "JST")

CHART_PERIODS = (14, 30)
"""The periods staff may choose on the console, in days; the first is the default."""

DENSE_PERIOD = 21
"""From this many days on, an axis label of MM-DD no longer fits under its bar: the day of the
month is printed instead (the caption names the first and last dates, the table every date)."""


@dataclass(frozen=True)
class StaffFigures:
    """One municipality's last days, as the console draws and tabulates them."""

    municipality: Municipality
    period_days: int
    days: list[DayFigures]
    movement_chart: Markup | None
    """Granted and redeemed per day (grouped bars); None when both are zero every day."""
    outstanding_chart: Markup | None
    """Outstanding at the end of each day; None when it is zero every day."""
    indexed_through: int | None
    """The last block whose events are in the figures, or None before the indexer stored any."""

    @property
    def has_events(self) -> bool:
        """Whether anything is worth drawing (otherwise the console says so in words)."""
        return self.movement_chart is not None or self.outstanding_chart is not None


def chosen_period(requested: str | None) -> int:
    """Return the period in days asked for by the `days` query parameter, or the default."""
    for period in CHART_PERIODS:
        if requested == str(period):
            return period
    return CHART_PERIODS[0]


def _axis_label(day: str, period_days: int) -> str:
    """Return the label under one day's bars: MM-DD, or the day of the month when bars are thin."""
    if period_days >= DENSE_PERIOD:
        return str(int(day[8:]))
    return day[5:]


def municipality_figures(
    *, db: Session, municipality: Municipality, now: int, period_days: int, language: str
) -> StaffFigures:
    """Return `municipality`'s figures for the `period_days` days up to `now`, with their charts."""
    days = daily_figures(db=db, municipality=int(municipality.code), now=now, days=period_days)
    labels = [_axis_label(day.day, period_days) for day in days]
    name = Message(municipality.name_ja, municipality.name_en).in_language(language)
    span = Message(f"直近{period_days}日", f"last {period_days} days").in_language(language)
    movement = movement_chart(
        days,
        labels,
        ChartNames(
            Message(
                f"{name}の日ごとの付与ポイントと利用ポイント（{span}）",
                f"{name}: points granted and redeemed per day ({span})",
            ),
            "staff-granted-redeemed",
        ),
        language,
    )
    outstanding = outstanding_chart(
        days,
        labels,
        ChartNames(
            Message(
                f"{name}の未使用ポイント残高（各日の終わり、{span}）",
                f"{name}: outstanding points at the end of each day ({span})",
            ),
            "staff-outstanding",
        ),
        language,
    )
    return StaffFigures(
        municipality=municipality,
        period_days=period_days,
        days=days,
        movement_chart=movement,
        outstanding_chart=outstanding,
        indexed_through=indexed_through(db),
    )


@dataclass(frozen=True)
class DailyTotal:
    """Points granted from the console on one day."""

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
