"""The aiohttp edge of JSON-RPC: POST bodies and WebSocket messages in, dispatcher answers out.

Invariants: a body over `max_request_bytes` gets HTTP 413 with a -32005 JSON-RPC error and is
never parsed; a WebSocket message over `max_ws_frame_bytes` closes that connection with 1009
(message too big) and nothing else; dispatch runs on a worker thread so the event loop keeps
serving while the ledger's lock is held by block production; replies and notifications of a
connection leave through one writer task, so they are never interleaved mid-message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor

from aiohttp import WSMsgType, web

from node.logs import fields
from node.metrics import CONTENT_TYPE, NodeMetrics
from node.rpc.dispatch import Dispatcher, encode, error_response
from node.rpc.errors import INVALID_REQUEST, RpcError, limit_exceeded
from node.rpc.subscriptions import SubscriptionHub, WsSession

log = logging.getLogger(__name__)

JSON = "application/json"


class RpcServer:
    """Builds the HTTP and WebSocket aiohttp applications around one dispatcher."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        hub: SubscriptionHub,
        executor: Executor,
        metrics: NodeMetrics | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.hub = hub
        self.executor = executor
        self.metrics = metrics
        self.limits = dispatcher.api.limits
        self._sockets: set[web.WebSocketResponse] = set()

    def http_app(self) -> web.Application:
        """Return the HTTP app: POST / for JSON-RPC, GET /metrics, and WebSocket upgrade on /."""
        app = web.Application(client_max_size=self.limits.max_request_bytes)
        app.router.add_post("/", self.handle_post)
        app.router.add_get("/", self.handle_get)
        app.router.add_get("/metrics", self.handle_metrics)
        app.on_shutdown.append(self._close_sockets)
        return app

    def ws_app(self) -> web.Application:
        """Return the WebSocket app (geth's separate WS port); POST works here too."""
        app = web.Application(client_max_size=self.limits.max_request_bytes)
        app.router.add_get("/", self.handle_get)
        app.router.add_post("/", self.handle_post)
        app.on_shutdown.append(self._close_sockets)
        return app

    async def _run(self, call: Callable[[], bytes | None]) -> bytes | None:
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    async def handle_post(self, request: web.Request) -> web.Response:
        """Answer one JSON-RPC body (single or batch)."""
        limit = self.limits.max_request_bytes
        if request.content_length is not None and request.content_length > limit:
            return self._too_large(request.content_length)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_large(None)
        if self.metrics is not None:
            self.metrics.rpc_batches.inc()
        answer = await self._run(lambda: self.dispatcher.handle_bytes(body))
        return web.Response(body=answer or b"", content_type=JSON)

    def _too_large(self, size: int | None) -> web.Response:
        limit = self.limits.max_request_bytes
        told = f"{size} bytes" if size is not None else "the body"
        error = limit_exceeded(f"request body too large: {told} over the limit of {limit} bytes")
        if self.metrics is not None:
            self.metrics.observe_request("other", error.code, 0.0)
        return web.Response(status=413, body=encode(error_response(None, error)), content_type=JSON)

    async def handle_metrics(self, request: web.Request) -> web.Response:
        """Serve Prometheus metrics."""
        if self.metrics is None:
            raise web.HTTPNotFound(text="metrics are not enabled")
        response = web.Response(body=self.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def handle_get(self, request: web.Request) -> web.StreamResponse:
        """Upgrade to WebSocket, or explain that JSON-RPC over HTTP wants POST."""
        if request.headers.get("Upgrade", "").lower() != "websocket":
            error = RpcError(INVALID_REQUEST, "JSON-RPC over HTTP needs POST (or a WebSocket)")
            return web.Response(
                status=405, body=encode(error_response(None, error)), content_type=JSON
            )
        return await self.serve_websocket(request)

    async def serve_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one WebSocket connection until it closes."""
        socket = web.WebSocketResponse(max_msg_size=self.limits.max_ws_frame_bytes, heartbeat=30)
        await socket.prepare(request)
        self._sockets.add(socket)
        loop = asyncio.get_running_loop()
        outgoing: asyncio.Queue[bytes | None] = asyncio.Queue()

        def overflow() -> None:
            log.warning("websocket backlog full; closing", extra=fields(peer=request.remote))
            outgoing.put_nowait(None)

        session = WsSession(loop, outgoing.put_nowait, overflow)
        self.hub.add(session)
        writer = asyncio.create_task(self._write(socket, outgoing))
        try:
            await self._read(socket, session, outgoing.put_nowait)
        finally:
            self.hub.remove(session)
            outgoing.put_nowait(None)
            await writer
            self._sockets.discard(socket)
        return socket

    async def _read(
        self,
        socket: web.WebSocketResponse,
        session: WsSession,
        send: Callable[[bytes], None],
    ) -> None:
        async for message in socket:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                answer = await self._run(
                    functools.partial(self.dispatcher.handle_bytes, message.data, session)
                )
                if answer is not None:
                    send(answer)
            elif message.type == WSMsgType.ERROR:
                log.info(
                    "websocket closed on error",
                    extra=fields(error=str(socket.exception()), code=socket.close_code),
                )
                break

    @staticmethod
    async def _write(socket: web.WebSocketResponse, outgoing: asyncio.Queue[bytes | None]) -> None:
        while True:
            item = await outgoing.get()
            if item is None or socket.closed:
                if not socket.closed:
                    await socket.close()
                return
            try:
                await socket.send_str(item.decode())
            except (ConnectionError, RuntimeError):
                return

    async def _close_sockets(self, app: web.Application) -> None:
        for socket in list(self._sockets):
            await socket.close(code=1001, message=b"node shutting down")


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start `app` on host:port (port 0 picks a free one); return the runner and bound port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[-1][1]
    return runner, int(bound)
