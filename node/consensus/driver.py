"""The asyncio driver around the pure QBFT state machine: clock, timers, write-ahead log, I/O.

The only consensus module allowed to touch time, files and the event loop. Rules it keeps:
- one event at a time, in arrival order, through `step` (an asyncio queue serializes them);
- each event is appended to the log and fsynced *before* `step` runs and before any action, so a
  restart replays the log (`wal.replay`) into the same state and signs nothing new by accident;
- the log holds the current height only: a new chain head starts a fresh segment (written to a
  temporary file and renamed over the old one), carrying the buffered future messages;
- round summaries are logged at INFO, discarded inputs at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Protocol

from node.consensus.events import (
    Action,
    BlockBuilt,
    BlockTimerExpired,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Discarded,
    Event,
    NewChainHead,
    RoundSummary,
    RoundTimerExpired,
    ScheduleTimer,
    StartHeight,
    TimerKind,
)
from node.consensus.ports import Block
from node.consensus.state import Context, ValidatorState, initial_state, step
from node.consensus.wal import (
    WalRecord,
    decode_log,
    encode_record,
    replay,
    start_segment,
    starts_segment,
)
from node.ports import Address

LOG = logging.getLogger("node.consensus")


class ConsensusChain(Protocol):
    """What the driver needs from the chain: build a proposal block, import a sealed one."""

    def build(self, height: int, round: int, proposer: Address, timestamp_ms: int) -> Block:
        """Return a new block on the head with our coinbase and `round` in its extraData."""
        ...

    def import_sealed(self, block: Block, round: int, seals: tuple[bytes, ...]) -> NewChainHead:
        """Seal `block` with `round` and `seals`, import it, and describe the new head.

        Importing a block that is already the head (a replay after a crash) must succeed quietly.
        """
        ...

    def head_event(self) -> NewChainHead:
        """Describe the current head (number, validators after it, coinbase, timestamp)."""
        ...


class Transport(Protocol):
    """The peer network as consensus sees it."""

    def broadcast(self, code: int, data: bytes) -> None:
        """Send a QBFT message to every connected validator."""
        ...


def wall_clock_ms() -> int:
    """Return the wall-clock time in ms (block timestamps are wall time, as in Besu)."""
    return time.time_ns() // 1_000_000


class ConsensusDriver:
    """Runs one validator: feed it events with `submit`; it logs, steps and acts."""

    def __init__(
        self,
        context: Context,
        wal_path: Path,
        chain: ConsensusChain,
        transport: Transport,
    ) -> None:
        self._context = context
        self._wal_path = wal_path
        self._chain = chain
        self._transport = transport
        self._state: ValidatorState = initial_state(context)
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._timers: dict[TimerKind, asyncio.TimerHandle] = {}
        self._wal: int | None = None

    @property
    def state(self) -> ValidatorState:
        """Return the current consensus state (read-only use: status and RPC)."""
        return self._state

    def submit(self, event: Event) -> None:
        """Queue an event from the network, sync or the chain; handled in order by `run`."""
        self._queue.put_nowait(event)

    async def start(self, first: StartHeight) -> None:
        """Replay the log if one exists (then redo its pending actions), else begin with `first`.

        If the chain is already past the replayed height, its head is queued as the next event.
        """
        data = self._wal_path.read_bytes() if self._wal_path.exists() else b""
        records, whole = decode_log(data)
        self._wal = os.open(self._wal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.truncate(self._wal_path, whole)  # drop a torn last record before appending
        if records:
            self._state, redo = replay(self._context, records)
            LOG.info(
                "consensus replayed %d log records: height %d round %d",
                len(records),
                self._state.height,
                self._state.round,
            )
            self._act(redo)
        else:
            self._handle(first)
        head = self._chain.head_event()
        if head.height >= self._state.height:
            self.submit(head)  # the chain moved on while we were down (or during the crash)

    async def run(self) -> None:
        """Handle queued events until cancelled."""
        while True:
            self._handle(await self._queue.get())

    def close(self) -> None:
        """Cancel timers and close the log."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._wal is not None:
            os.close(self._wal)
            self._wal = None

    def _handle(self, event: Event) -> None:
        now = wall_clock_ms()
        record = WalRecord(event, now)
        if starts_segment(event, self._state):
            self._rotate(start_segment(record, self._state))
        else:
            self._append(encode_record(record))
        self._state, actions = step(self._state, event, now)
        self._act(actions)

    def _append(self, data: bytes) -> None:
        if self._wal is None:
            raise RuntimeError("the consensus driver is not started: call start() first")
        os.write(self._wal, data)
        os.fsync(self._wal)

    def _rotate(self, records: list[WalRecord]) -> None:
        temporary = self._wal_path.with_suffix(".next")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, b"".join(encode_record(r) for r in records))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, self._wal_path)
        if self._wal is not None:
            os.close(self._wal)
        self._wal = os.open(self._wal_path, os.O_WRONLY | os.O_APPEND)

    def _act(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                self._transport.broadcast(action.code, action.data)
            elif isinstance(action, ScheduleTimer):
                self._schedule(action)
            elif isinstance(action, BuildBlock):
                block = self._chain.build(
                    action.height, action.round, self._context.signer.address, wall_clock_ms()
                )
                self.submit(BlockBuilt(action.height, action.round, block))
            elif isinstance(action, CommitBlock):
                self.submit(self._chain.import_sealed(action.block, action.round, action.seals))
            elif isinstance(action, RoundSummary):
                LOG.info(action.describe())
            elif isinstance(action, Discarded):
                LOG.debug("consensus discarded: %s", action.reason)

    def _schedule(self, timer: ScheduleTimer) -> None:
        previous = self._timers.pop(timer.kind, None)
        if previous is not None:
            previous.cancel()
        event: Event = (
            BlockTimerExpired(timer.height)
            if timer.kind is TimerKind.BLOCK
            else RoundTimerExpired(timer.height, timer.round)
        )
        delay = max(0.0, (timer.deadline_ms - wall_clock_ms()) / 1000)
        loop = asyncio.get_running_loop()
        self._timers[timer.kind] = loop.call_later(delay, self.submit, event)
