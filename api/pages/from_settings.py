"""The pages as `mykey api serve` builds them from `ApiSettings`, and the origin people use.

Invariants kept here: a served deployment never offers the virtual card (it is a development
facility of `mykey dev` only); the pages read the ledger at the chain config's RPC URL and decode
events with its deployment; without a chain there are no pages (registration, My Page and the
explorer all need the ledger), and asking for them anyway is refused at start.

Behind a reverse proxy that terminates TLS, the app sees `http://127.0.0.1:8080` while browsers
see `https://mykey.example.jp`. `PublicOrigin` makes every request look as the browser sent it
(scheme, Host, server), so the card page names the origin a resident must allow in the card
helper, and the same-site check of posted card answers compares the browser's Origin header with
the public host rather than the proxy's upstream address.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from api.chain.side import ChainSide
from api.pages.settings import PagesSettings
from api.settings import ApiSettings


class PagesWithoutChain(ValueError):
    """MYKEY_API_PAGES=on but no chain is configured; the message says what to set."""


def served_pages(settings: ApiSettings, chain: ChainSide | None) -> PagesSettings | None:
    """Return the pages' settings for `serve`, or None when the pages are not served.

    Raises PagesWithoutChain when the settings ask for pages explicitly but name no chain.
    """
    wanted = settings.serve_pages
    if chain is None:
        if wanted:
            raise PagesWithoutChain(
                "MYKEY_API_PAGES is on but MYKEY_API_CHAIN_CONFIG is not set: the pages read the "
                "ledger (set the chain config, or MYKEY_API_PAGES=off)"
            )
        return None
    if wanted is False:
        return None
    return PagesSettings(
        rpc_url=chain.config.rpc_url,
        deployment=chain.config.deployment,
        virtual_card=None,  # never in a deployment: residents use their card through the helper
        secure_cookies=settings.secure_cookies,
        card_helper_url=settings.card_helper_url,
    )


class PublicOrigin:
    """ASGI middleware: present each HTTP request as made to `origin` (`scheme://host[:port]`)."""

    def __init__(self, app: ASGIApp, origin: str) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or parts.hostname is None:
            raise ValueError(f"public origin {origin!r} is not scheme://host[:port]")
        self.app = app
        self.scheme = parts.scheme
        self.host_header = parts.netloc.encode("latin-1")
        default_port = 443 if parts.scheme == "https" else 80
        self.server = (parts.hostname, parts.port or default_port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite scheme, Host and server of HTTP and WebSocket requests, then pass them on."""
        if scope["type"] in {"http", "websocket"}:
            websocket = scope["type"] == "websocket"
            headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
            scope = dict(scope)
            secure = self.scheme == "https"
            scope["scheme"] = ("wss" if secure else "ws") if websocket else self.scheme
            scope["server"] = self.server
            scope["headers"] = [(b"host", self.host_header), *headers]
        await self.app(scope, receive, send)
