"""The ledger explorer, for everyone: latest blocks and transactions, a block, a transaction with
its point events in words, the validators and who sealed each block, search, a municipality's
events.

It reads the ledger only through `ChainReader` (JSON-RPC). The latest-blocks panel re-fetches
itself every few seconds (`/explorer/latest`, an HTML fragment), so the page updates without a
reload; without script it is still a complete page. Nothing here needs or shows a login: events
carry only pseudonymous MyKey IDs and amounts, and no balance of anyone is computed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.municipalities import MUNICIPALITIES
from api.pages.chain_reader import ChainReader, ChainUnavailable
from api.pages.event_words import describe
from api.pages.rendering import page_language, redirect
from api.pages.runtime import PagesRuntime
from contracts.events import LedgerEvent

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


TOTALS_WINDOW_BLOCKS = 5000
"""How far back a municipality's page reads events (and sums them)."""

TOTAL_KINDS: tuple[tuple[str, str], ...] = (
    ("granted", "PointsGranted"),
    ("converted", "PointsConverted"),
    ("placed", "ReservePlaced"),
    ("redeemed", "PointsRedeemed"),
    ("refunded", "PointsRefunded"),
    ("expired", "PointsExpired"),
)
"""The per-municipality totals the explorer shows, and the event each one sums."""


def totals_by_kind(events: Sequence[LedgerEvent]) -> dict[str, int]:
    """Return the sum of `amount` per kind of TOTAL_KINDS over `events`."""
    totals = dict.fromkeys((kind for kind, _ in TOTAL_KINDS), 0)
    names = {name: kind for kind, name in TOTAL_KINDS}
    for event in events:
        kind = names.get(event.name)
        if kind is not None:
            totals[kind] += int(event.args.get("amount", 0))
    return totals


def build_router(runtime: PagesRuntime) -> APIRouter:
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

    @router.get("")
    def home(request: Request) -> Response:
        """Latest blocks and transactions, updating themselves; the search form."""
        return with_chain(
            request,
            lambda chain: page(
                request,
                "explorer/home.html",
                {
                    **latest_context(chain),
                    "refresh_seconds": runtime.settings.explorer_refresh_seconds,
                },
            ),
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

    @router.get("/municipalities/{code}")
    def municipality(request: Request, code: str) -> Response:
        """A participating municipality's point events, newest first."""
        found = find_municipality_code(code)
        if found is None:
            return page(request, "not_found.html", {"detail": None}, status_code=404)
        item = next(m for m in MUNICIPALITIES if m.code == found)

        def view(chain: ChainReader) -> Response:
            events = chain.municipality_events(int(found), blocks=TOTALS_WINDOW_BLOCKS)
            return page(
                request,
                "explorer/municipality.html",
                {
                    "municipality": item,
                    "events": events,
                    "totals": totals_by_kind(events),
                    "window": TOTALS_WINDOW_BLOCKS,
                    "decoding": chain.deployment is not None,
                },
            )

        return with_chain(request, view)

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
