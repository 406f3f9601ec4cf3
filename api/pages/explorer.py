"""The ledger explorer, for everyone: latest blocks and transactions, a block, a transaction with
its point events in words, the validators and who sealed each block, search, per-municipality
totals with the outstanding points, and a municipality's events and figures per day.

It reads the ledger only through `ChainReader` (JSON-RPC); the totals are the ledger's own
`totalsOf` and "outstanding" is defined in `api.pages.outstanding`. The per-day chart is rebuilt
from the indexer's events in the private store (only public ledger events are there). The latest
blocks, the totals table and a municipality's figures re-fetch themselves every few seconds
(HTML fragments), so pages update without a reload; without script they are still complete.
Nothing here needs or shows a login: events carry only pseudonymous MyKey IDs and amounts, and
no resident's balance is computed or shown here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from api.deps import DbDep, ServicesDep
from api.messages import Message
from api.municipalities import MUNICIPALITIES, Municipality
from api.pages.chain_reader import ChainReader, ChainUnavailable
from api.pages.day_charts import ChartNames, movement_chart, outstanding_chart
from api.pages.event_words import describe, municipality_name
from api.pages.outstanding import DayFigures, LedgerTotals, daily_figures, indexed_through
from api.pages.rendering import page_language, redirect
from api.pages.runtime import PagesRuntime

JST = timezone(timedelta(hours=9), "JST")
TRANSACTION_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
BLOCK_NUMBER = re.compile(r"[0-9]{1,12}")


def jst_time(timestamp: int) -> str:
    """Return a block time as Japan time, e.g. 2026-11-28 15:04:05."""
    return datetime.fromtimestamp(timestamp, UTC).astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")


def find_municipality_code(text: str) -> str | None:
    """Return the code of the participating municipality named or numbered by `text`, or None."""
    wanted = text.strip().lower()
    for item in MUNICIPALITIES:
        if wanted in (item.code, item.name_ja.lower(), item.name_en.lower()) or (
            len(wanted) == 6 and wanted[:5] == item.code
        ):
            return item.code
    return None


EVENTS_WINDOW_BLOCKS = 5000
"""How far back a municipality's page lists events (its totals cover the whole ledger)."""


@dataclass(frozen=True)
class MunicipalityTotals:
    """One row of the totals table: a municipality's code, name and ledger totals."""

    code: str
    name: str
    totals: LedgerTotals


@dataclass(frozen=True)
class MunicipalityFigures:
    """What a municipality's live panel shows: totals, the charts and their numbers."""

    totals: LedgerTotals | None
    days: list[DayFigures]
    outstanding_chart: Markup | None
    movement_chart: Markup | None
    indexed_through: int | None


def all_totals(chain: ChainReader, language: str) -> list[MunicipalityTotals]:
    """Return the ledger totals of every admitted municipality (empty without a deployment)."""
    rows = []
    for code in chain.municipality_codes():
        totals = chain.totals_of(code)
        if totals is not None:
            rows.append(
                MunicipalityTotals(f"{code:05d}", municipality_name(code, language), totals)
            )
    return rows


def figure_charts(days: list[DayFigures], language: str) -> tuple[Markup | None, Markup | None]:
    """Return the outstanding-per-day and granted/redeemed-per-day charts (None when all zero)."""
    labels = [day.day[5:] for day in days]
    outstanding = outstanding_chart(
        days,
        labels,
        ChartNames(
            Message(
                "日ごとの未使用ポイント残高（各日の終わり）",
                "Outstanding points at the end of each day",
            ),
            "outstanding-per-day",
        ),
        language,
    )
    movement = movement_chart(
        days,
        labels,
        ChartNames(
            Message("日ごとの付与ポイントと利用ポイント", "Points granted and redeemed per day"),
            "granted-redeemed-per-day",
        ),
        language,
    )
    return outstanding, movement


def municipality_figures(
    chain: ChainReader, db: Session, code: int, *, now: int, language: str
) -> MunicipalityFigures:
    """Return the ledger's totals for `code` and its last days' figures from the index."""
    days = daily_figures(db=db, municipality=code, now=now)
    outstanding_chart, movement_chart = figure_charts(days, language)
    return MunicipalityFigures(
        totals=chain.totals_of(code),
        days=days,
        outstanding_chart=outstanding_chart,
        movement_chart=movement_chart,
        indexed_through=indexed_through(db),
    )


def build_router(runtime: PagesRuntime) -> APIRouter:  # noqa: PLR0915 - one small handler per page
    """Return the explorer under /explorer."""
    router = APIRouter(prefix="/explorer", include_in_schema=False)
    renderer = runtime.renderer

    def page(
        request: Request, template: str, context: dict[str, object], status_code: int = 200
    ) -> HTMLResponse:
        language = page_language(request)
        return renderer.render(
            request,
            template,
            {
                "section": "explorer",
                "when": jst_time,
                "describe": lambda event: describe(event, language),
                **context,
            },
            status_code=status_code,
        )

    def not_connected(request: Request, reason: str | None = None) -> HTMLResponse:
        return page(request, "explorer/unavailable.html", {"reason": reason}, status_code=503)

    def with_chain(request: Request, view: Callable[[ChainReader], Response]) -> Response:
        chain = runtime.chain
        if chain is None:
            return not_connected(request)
        try:
            return view(chain)
        except ChainUnavailable as error:
            return not_connected(request, str(error))

    def latest_context(chain: ChainReader) -> dict[str, object]:
        return {
            "blocks": chain.latest_blocks(10),
            "transactions": chain.latest_transactions(10),
        }

    def totals_context(request: Request, chain: ChainReader) -> dict[str, object]:
        return {
            "municipality_totals": all_totals(chain, page_language(request)),
            "decoding": chain.deployment is not None,
        }

    @router.get("")
    def home(request: Request) -> Response:
        """Latest blocks and transactions and every municipality's totals, updating themselves."""
        return with_chain(
            request,
            lambda chain: page(
                request,
                "explorer/home.html",
                {
                    **latest_context(chain),
                    **totals_context(request, chain),
                    "refresh_seconds": runtime.settings.explorer_refresh_seconds,
                },
            ),
        )

    @router.get("/totals")
    def totals(request: Request) -> Response:
        """The per-municipality totals table alone (an HTML fragment the home page swaps in)."""
        return with_chain(
            request,
            lambda chain: page(request, "explorer/_totals.html", totals_context(request, chain)),
        )

    @router.get("/latest")
    def latest(request: Request) -> Response:
        """The latest-blocks panel alone (an HTML fragment the home page swaps in)."""
        return with_chain(
            request, lambda chain: page(request, "explorer/_latest.html", latest_context(chain))
        )

    @router.get("/blocks/{number}")
    def block(request: Request, number: int) -> Response:
        """One block: who sealed it, its transactions."""

        def view(chain: ChainReader) -> Response:
            detail = chain.block(number) if number >= 0 else None
            if detail is None:
                return page(request, "not_found.html", {"detail": None}, status_code=404)
            return page(request, "explorer/block.html", {"block": detail})

        return with_chain(request, view)

    @router.get("/transactions/{transaction_hash}")
    def transaction(request: Request, transaction_hash: str) -> Response:
        """One transaction with its ledger events decoded in words."""

        def view(chain: ChainReader) -> Response:
            detail = (
                chain.transaction(transaction_hash)
                if TRANSACTION_HASH.fullmatch(transaction_hash)
                else None
            )
            if detail is None:
                return page(request, "not_found.html", {"detail": None}, status_code=404)
            return page(request, "explorer/transaction.html", {"transaction": detail})

        return with_chain(request, view)

    @router.get("/validators")
    def validators(request: Request) -> Response:
        """The QBFT validators and how many of the latest blocks each sealed."""

        def view(chain: ChainReader) -> Response:
            blocks = chain.latest_blocks(50)
            sealed: dict[str, int] = {}
            for item in blocks:
                sealed[item.sealer] = sealed.get(item.sealer, 0) + 1
            return page(
                request,
                "explorer/validators.html",
                {"validators": chain.validators(), "sealed": sealed, "blocks": blocks},
            )

        return with_chain(request, view)

    def figures_context(
        request: Request, chain: ChainReader, db: Session, now: int, item: Municipality
    ) -> dict[str, object]:
        return {
            "municipality": item,
            "figures": municipality_figures(
                chain, db, int(item.code), now=now, language=page_language(request)
            ),
            "decoding": chain.deployment is not None,
        }

    def known_municipality(code: str) -> Municipality | None:
        found = find_municipality_code(code)
        return next((m for m in MUNICIPALITIES if m.code == found), None)

    @router.get("/municipalities/{code}")
    def municipality(request: Request, code: str, services: ServicesDep, db: DbDep) -> Response:
        """A municipality's totals, outstanding points per day, and point events, newest first."""
        item = known_municipality(code)
        if item is None:
            return page(request, "not_found.html", {"detail": None}, status_code=404)

        def view(chain: ChainReader) -> Response:
            events = chain.municipality_events(int(item.code), blocks=EVENTS_WINDOW_BLOCKS)
            return page(
                request,
                "explorer/municipality.html",
                {
                    **figures_context(request, chain, db, services.clock.now(), item),
                    "events": events,
                    "window": EVENTS_WINDOW_BLOCKS,
                    "refresh_seconds": runtime.settings.explorer_refresh_seconds,
                },
            )

        return with_chain(request, view)

    @router.get("/municipalities/{code}/figures")
    def municipality_live(
        request: Request, code: str, services: ServicesDep, db: DbDep
    ) -> Response:
        """A municipality's totals and charts alone (an HTML fragment its page swaps in)."""
        item = known_municipality(code)
        if item is None:
            return page(request, "not_found.html", {"detail": None}, status_code=404)
        return with_chain(
            request,
            lambda chain: page(
                request,
                "explorer/_figures.html",
                figures_context(request, chain, db, services.clock.now(), item),
            ),
        )

    @router.get("/search")
    def search(request: Request, q: str = "") -> Response:
        """Go to the block, transaction or municipality `q` names; say so when nothing matches."""
        text = q.strip()
        if TRANSACTION_HASH.fullmatch(text):
            return redirect(f"/explorer/transactions/{text.lower()}")
        code = find_municipality_code(text) if text else None
        if code is not None:
            return redirect(f"/explorer/municipalities/{code}")
        if BLOCK_NUMBER.fullmatch(text):
            return redirect(f"/explorer/blocks/{int(text)}")
        return page(
            request, "explorer/search.html", {"query": text}, status_code=404 if text else 200
        )

    return router
