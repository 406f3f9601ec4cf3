"""The running node: one asyncio loop with the block timer and the JSON-RPC servers.

Invariants: blocks are produced on one dedicated worker thread, one at a time, so the event loop
keeps answering JSON-RPC while a block is built and persisted (a dev node's evm_mine seals from an
RPC worker thread, still one at a time under the ledger lock); the block timer fires every block
period measured from the previous firing (never drifting later by the production time, never
firing twice at once) and reads block time from one `BlockClock` (the dev clock on a dev node,
whose evm_ methods are served only with `ServiceOptions.clock_control`); shutdown stops
accepting connections first, lets the block being produced finish, then closes the ledger, so a
Ctrl-C never leaves a half-written block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from node.config import NodeConfig
from node.devclock import BlockClock
from node.logs import fields
from node.metrics import NodeMetrics
from node.ports import BlockView, HeadEvents, LedgerReader, TxSubmitter
from node.rpc.devmethods import BlockProducer, DevClockMethods, register_dev_methods
from node.rpc.dispatch import Dispatcher
from node.rpc.filters import FilterTable
from node.rpc.methods import EthApi, RpcLimits
from node.rpc.server import RpcServer, start_site
from node.rpc.subscriptions import SubscriptionHub

log = logging.getLogger(__name__)

RPC_WORKER_THREADS = 4
"""Threads answering JSON-RPC; the ledger serialises on its lock, so more would only queue."""

FILTER_SWEEP_SECONDS = 30.0
"""How often idle filters are looked for (they expire after five minutes without a poll)."""


class ChainPort(LedgerReader, HeadEvents, Protocol):
    """The chain as the service needs it: reads plus new-head events."""


class LedgerHandle(Protocol):
    """What the service needs of `node.ledger.Ledger`."""

    @property
    def chain(self) -> ChainPort:
        """The chain (reads and head events)."""
        ...

    @property
    def txpool(self) -> TxSubmitter:
        """The transaction pool."""
        ...

    def produce_block(self, now: float) -> BlockView | None:
        """Build, seal, import and persist a block; None when there is nothing to do."""
        ...

    def close(self) -> None:
        """Flush and close storage."""
        ...


@dataclass(frozen=True)
class ServiceOptions:
    """Where to listen and how often to produce blocks. Port 0 picks a free port."""

    host: str = "127.0.0.1"
    http_port: int = 8545
    ws_port: int = 8546
    block_period: float = 1.0
    limits: RpcLimits = field(default_factory=RpcLimits)
    clock_control: bool = False
    """Dev nodes only: serve evm_increaseTime / evm_setNextBlockTimestamp / evm_mine."""


def service_options(
    config: NodeConfig,
    *,
    http_port: int | None = None,
    ws_port: int | None = None,
    block_period: float | None = None,
    clock_control: bool = False,
) -> ServiceOptions:
    """Return ServiceOptions from config.toml's values, with explicit overrides applied."""
    period = block_period if block_period is not None else config.chain.block_period_seconds
    return ServiceOptions(
        host=config.rpc.host,
        http_port=config.rpc.http_port if http_port is None else http_port,
        ws_port=config.rpc.ws_port if ws_port is None else ws_port,
        block_period=float(period or 1.0),
        clock_control=clock_control,
        limits=RpcLimits(
            max_request_bytes=config.rpc.max_request_bytes,
            max_batch=config.rpc.max_batch,
            max_logs_block_range=config.rpc.max_logs_block_range,
            max_ws_frame_bytes=config.rpc.max_request_bytes,
        ),
    )


class NodeService:
    """The node's servers and block timer around one open ledger."""

    def __init__(
        self,
        ledger: LedgerHandle,
        options: ServiceOptions,
        clock: Callable[[], float] = time.time,
        block_clock: BlockClock | None = None,
    ) -> None:
        """`block_clock` is the ledger's clock (`Ledger.clock`); the block timer reads it, and
        with `options.clock_control` the evm_ methods move it. Clock control needs a ledger
        whose produce_block takes `force=True` (node.ledger.Ledger)."""
        self.ledger = ledger
        self.options = options
        self.clock = clock
        self.block_clock = block_clock if block_clock is not None else BlockClock()
        self.metrics = NodeMetrics()
        self.metrics.track_txpool(ledger.txpool.pending_count)
        self.metrics.head_block.set(ledger.chain.head().number)
        self.filters = FilterTable()
        self.hub = SubscriptionHub()
        self.api = EthApi(ledger.chain, ledger.txpool, self.filters, clock, options.limits)
        self.api.pending_listeners.append(self.hub.on_pending)
        if options.clock_control:
            if not isinstance(ledger, BlockProducer):
                raise TypeError("clock control needs a ledger that can force a block (Ledger)")
            dev = DevClockMethods(self.block_clock, ledger.chain, ledger)
            register_dev_methods(self.api.methods, dev)
        self.dispatcher = Dispatcher(self.api, self.metrics.observe_request, time.perf_counter)
        self.rpc_executor = ThreadPoolExecutor(RPC_WORKER_THREADS, thread_name_prefix="rpc")
        self.block_executor = ThreadPoolExecutor(1, thread_name_prefix="block")
        self.server = RpcServer(self.dispatcher, self.hub, self.rpc_executor, self.metrics)
        self.http_port = 0
        self.ws_port = 0
        self._runners: list[web.AppRunner] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def http_url(self) -> str:
        """The HTTP JSON-RPC URL (valid after start)."""
        return f"http://{self.options.host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket JSON-RPC URL (valid after start)."""
        return f"ws://{self.options.host}:{self.ws_port}"

    async def start(self) -> None:
        """Listen on the HTTP and WebSocket ports and start the block timer."""
        self._unsubscribe.append(self.ledger.chain.subscribe(self.api.on_head))
        self._unsubscribe.append(self.ledger.chain.subscribe(self.filters.on_head))
        self._unsubscribe.append(self.ledger.chain.subscribe(self.hub.on_head))
        self._unsubscribe.append(self.ledger.chain.subscribe(self.metrics.on_head))
        try:
            http_runner, self.http_port = await start_site(
                self.server.http_app(), self.options.host, self.options.http_port
            )
            self._runners.append(http_runner)
            ws_runner, self.ws_port = await start_site(
                self.server.ws_app(), self.options.host, self.options.ws_port
            )
            self._runners.append(ws_runner)
        except OSError:
            # A port in use: release what did start; the caller still owns (and closes) the ledger.
            for runner in self._runners:
                await runner.cleanup()
            self._runners.clear()
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe.clear()
            self.rpc_executor.shutdown(wait=False)
            self.block_executor.shutdown(wait=False)
            raise
        self._tasks.append(asyncio.create_task(self._block_timer(), name="block-timer"))
        self._tasks.append(asyncio.create_task(self._filter_sweeper(), name="filter-sweeper"))
        log.info(
            "node started",
            extra=fields(
                http=self.http_url,
                ws=self.ws_url,
                head=self.ledger.chain.head().number,
                block_period=self.options.block_period,
            ),
        )

    async def stop(self) -> None:
        """Stop serving, finish the block in production, close the ledger."""
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        # The block thread may still be persisting; shutdown(wait=True) lets it finish.
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.block_executor.shutdown(wait=True)
        )
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.rpc_executor.shutdown(wait=True, cancel_futures=True)
        self.ledger.close()
        log.info("node stopped", extra=fields(head=self.ledger_head_or_none()))

    def ledger_head_or_none(self) -> int | None:
        """Return the head number for the farewell log line (None if the ledger is gone)."""
        try:
            return self.ledger.chain.head().number
        except Exception:
            return None

    async def _block_timer(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.options.block_period
        next_at = time.monotonic() + period
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            started = time.perf_counter()
            try:
                block = await loop.run_in_executor(
                    self.block_executor, self.ledger.produce_block, self.block_clock.now()
                )
            except Exception:
                log.exception("block production failed; retrying next period")
                block = None
            elapsed = time.perf_counter() - started
            if block is not None:
                self.metrics.observe_block(elapsed, block.number, len(block.transactions))
                log.info(
                    "block produced",
                    extra=fields(
                        number=block.number,
                        txs=len(block.transactions),
                        gas_used=block.gas_used,
                        ms=round(elapsed * 1000, 1),
                    ),
                )
            else:
                self.metrics.observe_block(elapsed, None, 0)
            next_at = max(next_at + period, time.monotonic())

    async def _filter_sweeper(self) -> None:
        while True:
            await asyncio.sleep(FILTER_SWEEP_SECONDS)
            expired = self.filters.expire(self.clock())
            if expired:
                log.debug("filters expired", extra=fields(count=len(expired)))


async def serve_until_signal(service: NodeService, ready: Callable[[], None] | None = None) -> None:
    """Run `service` until SIGINT or SIGTERM, then stop it cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await service.start()
    if ready is not None:
        ready()
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        log.info("stopping on signal")
        await service.stop()


class BackgroundNode:
    """A NodeService on its own event loop in a daemon thread (for embedding and tests)."""

    def __init__(self, service: NodeService) -> None:
        self.service = service
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="node", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        """Start the loop thread and wait until the servers listen; re-raise a start failure."""
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError(f"the node did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"the node failed to start: {self._error}") from self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.service.start())
        except BaseException as error:
            self._error = error
            self._loop.close()
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the service and the loop thread; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._error is None and self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self.service.stop(), self._loop)
            future.result(timeout)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._loop.is_running():
            self._loop.close()
