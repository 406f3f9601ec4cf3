"""The request body size limit, enforced before a body is parsed.

A pure ASGI middleware: a declared `Content-Length` over the limit is refused at once with 413;
a body without one (chunked) is read here, counted as it streams, and refused as soon as it
passes the limit, so a client cannot make the API buffer more than `max_body_bytes`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PayloadTooLarge
from api.messages import Message as Text
from api.problems import api_error_response


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        Text(
            f"送信内容が大きすぎます（上限 {limit} バイト）。",
            f"The request body exceeds the limit of {limit} bytes.",
        ),
        extensions={"max_body_bytes": limit},
    )


class BodySizeLimit:
    """Refuse request bodies larger than `max_body_bytes` with a 413 problem."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body_bytes
            except ValueError:
                too_big = False  # a malformed header is the server's to reject
            if too_big:
                response = api_error_response(Request(scope), _too_large(self.max_body_bytes))
                await response(scope, receive, send)
                return
        # Read the body here, bounded by the limit, and hand it on whole: an error raised from
        # inside the app's own body reading would be reported as a 400 by FastAPI.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                response = api_error_response(Request(scope), _too_large(self.max_body_bytes))
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], None, receive), send)


def _replay(buffered: list[Message], pending: Message | None, receive: Receive) -> Receive:
    """Return a receive callable that yields `buffered`, then `pending`, then the real ones."""
    queue = [*buffered, *([pending] if pending is not None else [])]

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay
