"""The two day-by-day charts drawn from ledger figures, shared by the explorer and the console.

Both the explorer's municipality page and the staff console draw, from one `DayFigures` list,
the outstanding points at the end of each day (bars) and the points granted and redeemed per day
(grouped bars). Only the titles, the axis labels and the chart ids differ; the drawing is here.
Invariants: a chart is None when its figures are zero every day (the page then says so in
words); the outstanding bars are drawn from zero, so a negative figure (events indexed out of
order) shows as no bar while the table under the chart prints the true number.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from api.messages import Message
from api.pages.charts import Bar, Series, bar_chart, grouped_bar_chart
from api.pages.outstanding import DayFigures

UNIT = Message("ポイント", " points")


@dataclass(frozen=True)
class ChartNames:
    """What one page calls a chart: its title in both languages and its element id."""

    title: Message
    chart_id: str


def outstanding_chart(
    days: list[DayFigures], labels: list[str], names: ChartNames, language: str
) -> Markup | None:
    """Bars of the outstanding points at the end of each day, or None when all are zero."""
    if not any(day.outstanding for day in days):
        return None
    return bar_chart(
        [Bar(label, max(day.outstanding, 0)) for label, day in zip(labels, days, strict=True)],
        title=names.title.in_language(language),
        unit=UNIT.in_language(language),
        chart_id=names.chart_id,
    )


def movement_chart(
    days: list[DayFigures], labels: list[str], names: ChartNames, language: str
) -> Markup | None:
    """Grouped bars of the points granted and redeemed per day, or None when all are zero."""
    if not any(day.granted or day.redeemed for day in days):
        return None
    return grouped_bar_chart(
        labels,
        [
            Series(
                Message("付与", "Granted").in_language(language),
                tuple(day.granted for day in days),
            ),
            Series(
                Message("利用", "Redeemed").in_language(language),
                tuple(day.redeemed for day in days),
            ),
        ],
        title=names.title.in_language(language),
        unit=UNIT.in_language(language),
        chart_id=names.chart_id,
    )
