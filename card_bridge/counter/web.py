"""The small local web page for tablets: server-rendered HTML on 127.0.0.1, no JavaScript.

Forms post to the counter itself; each runs one `CounterSession` operation in a worker thread
(card and HTTP calls block) and renders the outcome with `render`, the same lines the text
interface prints. A barcode is an inline SVG; a label's PNG and PDF are linked from here. Staff
choose each lookup's delivery mode (screen, barcode, keyboard, label) on the form, the
configured one preselected; the choice goes to `CounterSession.look_up_service_id(delivery=)`.

Invariants: the server binds loopback only; every form carries a per-process token (a page from
another origin cannot post a redemption); answers are `Cache-Control: no-store`, so a PIN field
or a service ID is not kept by the browser; the PIN is read from the form and handed to the
session, never echoed back into a page or logged (aiohttp's access log shows the path only).
"""

from __future__ import annotations

import asyncio
import html
import re
import secrets
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from card_bridge.counter.barcode_views import barcode_svg
from card_bridge.counter.config import DeliveryMode
from card_bridge.counter.ports import TerminalKind
from card_bridge.counter.render import DELIVERY_CHOICES, Line, outcome_lines
from card_bridge.counter.session import (
    CounterSession,
    LookupDone,
    RedemptionDone,
    Refused,
    VoucherDone,
)

_Outcome = TypeVar(
    "_Outcome", LookupDone | Refused, RedemptionDone | Refused, VoucherDone | Refused
)

LOOPBACK = "127.0.0.1"

LABEL_NAME = re.compile(r"label-[0-9]{8}-[0-9]{6}-[0-9]{6}\.(png|pdf)")

STYLE = """
body{font-family:"Noto Sans JP",sans-serif;margin:1.5rem;max-width:48rem;color:#1a1a1c;
font-size:1.125rem;line-height:1.7}
h1{font-size:1.5rem}form{border:1px solid #767676;border-radius:8px;padding:1rem;margin:1rem 0}
label{display:block;font-weight:bold;margin-top:.5rem}
fieldset{border:0;padding:0;margin:.5rem 0}legend{font-weight:bold}
.choice{display:flex;align-items:center;gap:.5rem}.choice label{font-weight:normal;margin:0}
.choice input{width:1.5rem;height:1.5rem}
input{font-size:1.25rem;padding:.4rem;border:2px solid #1a1a1c;border-radius:4px}
button{font-size:1.25rem;padding:.5rem 1.5rem;margin-top:.75rem;background:#0031d8;color:#fff;
border:0;border-radius:6px}
.en{color:#4d4d4d;font-size:.95rem;display:block}
.emphasis{font-weight:bold;color:#b3261e}
.number{font-family:monospace;font-size:2.5rem;letter-spacing:.15em}
a{color:#0031d8}
"""


class CounterWebPage:
    """The tablet page around one `CounterSession`."""

    def __init__(
        self,
        session: CounterSession,
        kinds: tuple[TerminalKind, ...],
        *,
        label_directory: Path,
        token: str | None = None,
    ) -> None:
        self._session = session
        self._kinds = kinds
        self._labels = label_directory
        self.token = token or secrets.token_urlsafe(24)

    def application(self) -> web.Application:
        """Return the aiohttp application (routes only; nothing is started)."""
        app = web.Application(client_max_size=16 * 1024, middlewares=[_no_store])
        app.router.add_get("/", self._index)
        app.router.add_post("/lookup", self._lookup)
        app.router.add_post("/redeem", self._redeem)
        app.router.add_post("/voucher", self._voucher)
        app.router.add_get("/labels/{name}", self._label)
        return app

    async def _index(self, _request: web.Request) -> web.Response:
        return _page("マイキー 窓口端末", "MyKey counter terminal", self._forms())

    async def _lookup(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        delivery = _delivery(form)
        pin = str(form.get("pin", ""))
        outcome = await _blocking(lambda: self._session.look_up_service_id(pin, delivery=delivery))
        body = _lines_html(outcome_lines(outcome))
        if isinstance(outcome, LookupDone):
            body = self._lookup_extra(outcome) + body
        return _page("サービスID照会", "Service ID lookup", body + _back())

    async def _redeem(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        amount, pin = _amount(form), str(form.get("pin", ""))
        outcome = await _blocking(lambda: self._session.redeem(amount, pin))
        return _page("ポイント利用", "Redeem points", _result(outcome) + _back())

    async def _voucher(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        amount, pin = _amount(form), str(form.get("pin", ""))
        outcome = await _blocking(lambda: self._session.issue_voucher(amount, pin))
        return _page("ポイント券発行", "Issue a voucher", _result(outcome) + _back())

    async def _label(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = self._labels / name
        if LABEL_NAME.fullmatch(name) is None or not path.is_file():
            raise web.HTTPNotFound(text="no such label")
        kind = "application/pdf" if name.endswith(".pdf") else "image/png"
        return web.Response(body=path.read_bytes(), content_type=kind)

    async def _form(self, request: web.Request) -> dict[str, str]:
        form = await request.post()
        if not secrets.compare_digest(str(form.get("token", "")), self.token):
            raise web.HTTPForbidden(
                text="this form is stale or from another page: reload the counter page"
            )
        return {key: str(value) for key, value in form.items()}

    def _lookup_extra(self, outcome: LookupDone) -> str:
        number = html.escape(outcome.result.service_id)
        parts = [f'<p class="number" aria-label="service ID">{number}</p>']
        if outcome.delivery is DeliveryMode.BARCODE:
            parts.append(f'<div class="barcode">{barcode_svg(outcome.barcode)}</div>')
        if outcome.label is not None:
            for path, text in ((outcome.label.pdf, "PDF"), (outcome.label.png, "PNG")):
                parts.append(
                    f'<p><a href="/labels/{html.escape(path.name)}">ラベル {text} を開く'
                    f'<span class="en">Open the label ({text})</span></a></p>'
                )
        return "".join(parts)

    def _forms(self) -> str:
        token = f'<input type="hidden" name="token" value="{html.escape(self.token)}">'
        pin = (
            '<label for="{id}">暗証番号（数字4桁）<span class="en">PIN (4 digits)</span></label>'
            '<input id="{id}" name="pin" type="password" inputmode="numeric" '
            'pattern="[0-9]{{4}}" maxlength="4" autocomplete="off" required>'
        )
        forms = []
        if TerminalKind.SERVICE_ID_LOOKUP in self._kinds:
            forms.append(
                '<form method="post" action="/lookup"><h2>サービスID照会'
                '<span class="en">Look up a service ID</span></h2>'
                f"{token}{self._delivery_choices()}{pin.format(id='lookup-pin')}"
                '<button type="submit">照会する<span class="en">Look up</span></button></form>'
            )
        for kind, action, title, english in (
            (TerminalKind.POINT_USE, "redeem", "ポイント利用", "Redeem points"),
            (TerminalKind.VOUCHER_ISSUE, "voucher", "ポイント券発行", "Issue a voucher"),
        ):
            if kind in self._kinds:
                forms.append(
                    f'<form method="post" action="/{action}"><h2>{title}'
                    f'<span class="en">{english}</span></h2>{token}'
                    f'<label for="{action}-amount">ポイント数<span class="en">Points</span></label>'
                    f'<input id="{action}-amount" name="amount" type="number" min="1" '
                    'inputmode="numeric" required>'
                    f"{pin.format(id=action + '-pin')}"
                    f'<button type="submit">{title}<span class="en">{english}</span></button>'
                    "</form>"
                )
        instructions = (
            "<p>カードをリーダーに置いてから、暗証番号を入力してください。"
            '<span class="en">Place the My Number Card on the reader, then enter the PIN.</span>'
            "</p>"
        )
        return instructions + "".join(forms)

    def _delivery_choices(self) -> str:
        """Radio buttons for the lookup's delivery mode; the session's configured mode checked."""
        configured = self._session.delivery
        options = []
        for mode, japanese, english in DELIVERY_CHOICES:
            checked = " checked" if mode is configured else ""
            options.append(
                f'<div class="choice"><input type="radio" id="delivery-{mode.value}" '
                f'name="delivery" value="{mode.value}"{checked}>'
                f'<label for="delivery-{mode.value}">{japanese}'
                f'<span class="en">{english}</span></label></div>'
            )
        return (
            '<fieldset><legend>番号の受け渡し方法<span class="en">How to pass the number on'
            "</span></legend>" + "".join(options) + "</fieldset>"
        )


@web.middleware
async def _no_store(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'unsafe-inline'; script-src 'none'"
    )
    return response


async def _blocking(work: Callable[[], _Outcome]) -> _Outcome:
    return await asyncio.get_running_loop().run_in_executor(None, work)


def _delivery(form: dict[str, str]) -> DeliveryMode | None:
    """Return the delivery mode chosen on the form, or None (the configured one) when absent.

    Raises HTTPBadRequest for a value the form never offers (a stale or hand-made page).
    """
    chosen = form.get("delivery", "").strip()
    if not chosen:
        return None
    try:
        return DeliveryMode(chosen)
    except ValueError:
        allowed = ", ".join(mode.value for mode in DeliveryMode)
        raise web.HTTPBadRequest(
            text=f"unknown delivery mode {chosen!r}: choose one of {allowed}"
        ) from None


def _amount(form: dict[str, str]) -> int:
    text = form.get("amount", "").replace(",", "").strip()
    return int(text) if text.isascii() and text.isdigit() else 0


def _result(outcome: _Outcome) -> str:
    return _lines_html(outcome_lines(outcome))


def _lines_html(lines: list[Line]) -> str:
    items = []
    for line in lines:
        css = ' class="emphasis"' if line.emphasis else ""
        english = (
            f'<span class="en">{html.escape(line.english)}</span>'
            if line.english != line.japanese
            else ""
        )
        items.append(f"<p{css}>{html.escape(line.japanese)}{english}</p>")
    return '<section role="status">' + "".join(items) + "</section>"


def _back() -> str:
    return '<p><a href="/">最初の画面に戻る<span class="en">Back to the start</span></a></p>'


def _page(title: str, english: str, body: str) -> web.Response:
    document = (
        '<!doctype html><html lang="ja"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} / {html.escape(english)}</title>"
        f"<style>{STYLE}</style></head><body><main>"
        f'<h1>{html.escape(title)}<span class="en">{html.escape(english)}</span></h1>'
        f"{body}</main></body></html>"
    )
    return web.Response(text=document, content_type="text/html", charset="utf-8")


class RunningPage:
    """The page served from a background thread; `port` is the bound loopback port."""

    def __init__(self, page: CounterWebPage, *, port: int = 0) -> None:
        self._page = page
        self._requested_port = port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="counter-web")
        self.port = 0

    def start(self) -> int:
        """Bind 127.0.0.1 and serve; return the port."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(timeout=30)
        return self.port

    async def _start(self) -> int:
        self._runner = web.AppRunner(self._page.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, self._requested_port)
        await site.start()
        return int(self._runner.addresses[0][1])

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
