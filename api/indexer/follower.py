"""Follows finalized blocks over JSON-RPC and stores the contracts' decoded events.

Invariants:
- No gap, no double: the cursor (`chain_cursor.next_block`) moves in the same database
  transaction as the events of the blocks it passes, and (block_number, log_index) is unique, so
  a crash anywhere leaves either both or neither, and a restart resumes at the cursor.
- Finalized only: it reads up to the node's `finalized` head (QBFT seals are final), never past it.
- Survives the node restarting: a failed JSON-RPC call leaves the cursor where it was; the
  background loop waits and tries again.
- Hooks see what they announce: `after_store` runs inside the transaction that stores a range's
  events and moves the cursor (the notices' hook enqueues e-mails there), so whatever it writes is
  committed with those events or, when anything fails, rolled back with them and redone on the
  next poll.

- One follower at a time across processes: an `IndexerThread` given a store takes the
  `indexer` lease (api.keepers.leases, the keepers' lease rows) before each poll; only the holder
  polls, the others wait and take over once it lapses (a crashed holder) or is released (a holder
  that stopped). Reads in every process use the shared store, so they need no follower of their own.

The indexer reads with eth_getLogs filtered on the deployment's four proxy addresses, in ranges
of at most `batch_blocks`, and decodes with contracts.events.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from web3 import Web3

from api.keepers.leases import acquire_lease, release_lease
from api.store.database import Store
from api.store.models import ChainCursor, ChainEvent
from contracts.deploy import PROXIED, Deployment
from contracts.events import LedgerEvent, decode_logs

AfterStore = Callable[[Session, Sequence[ChainEvent]], None]
"""Called with the session and the rows just added, before the range's transaction commits."""

CURSOR_NAME = "ledger"
FOLLOWER_LEASE = "indexer"
"""The lease row (keeper_leases.name) whose holder is the one process following the chain."""
FOLLOWER_LEASE_SECONDS = 15
"""How long a follower that stops renewing (crashed) blocks the others: many polls' worth."""
DEFAULT_BATCH_BLOCKS = 500
_log = logging.getLogger(__name__)

_COUNTERPARTY_FIELDS = ("business", "partner")
_MUNICIPALITY_FIELDS = ("municipality", "homeMunicipality")


def _json_ready(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)  # keep 256-bit nonces exact in JSON
    return value


def _row(event: LedgerEvent, timestamp: int) -> ChainEvent:
    args = event.args
    municipality = next((args[f] for f in _MUNICIPALITY_FIELDS if f in args), None)
    counterparty = next((args[f] for f in _COUNTERPARTY_FIELDS if f in args), None)
    mykey_id = args.get("mykeyId")
    return ChainEvent(
        block_number=event.block_number,
        log_index=event.log_index,
        block_timestamp=timestamp,
        transaction_hash="0x" + event.transaction_hash.hex(),
        contract=event.contract,
        name=event.name,
        mykey_id=mykey_id if isinstance(mykey_id, str) else None,
        municipality=int(municipality) if municipality is not None else None,
        counterparty=int(counterparty) if counterparty is not None else None,
        amount=int(args["amount"]) if "amount" in args else None,
        period=int(args["period"]) if "period" in args else None,
        args_json=json.dumps({k: _json_ready(v) for k, v in args.items()}, sort_keys=True),
    )


class ChainIndexer:
    """Copies the ledger's events into the store, block range by block range."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        store: Store,
        *,
        now: Callable[[], int],
        batch_blocks: int = DEFAULT_BATCH_BLOCKS,
        after_store: AfterStore | None = None,
    ) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.store = store
        self.now = now
        self.batch_blocks = batch_blocks
        self.after_store = after_store
        self._addresses = [deployment.address_of(name) for name in PROXIED]
        # One poll at a time in this process: the follower thread and a request's catch_up may
        # race, and SQLite ignores FOR UPDATE (PostgreSQL's row lock covers other processes).
        self._polling = threading.Lock()

    def next_block(self) -> int:
        """The first block not yet indexed (the deployment block when nothing is)."""
        with self.store.sessions() as db:
            cursor = db.get(ChainCursor, CURSOR_NAME)
            return self.deployment.block_number if cursor is None else cursor.next_block

    def finalized_head(self) -> int:
        """The node's finalized head block number (raises the provider's error when down)."""
        return int(self.w3.eth.get_block("finalized")["number"])

    def lag(self) -> int:
        """How many finalized blocks are not yet indexed."""
        return max(0, self.finalized_head() + 1 - self.next_block())

    def poll_once(self) -> int:
        """Index one range of finalized blocks; return the blocks indexed (0: caught up)."""
        with self._polling:
            try:
                return self._poll_once()
            except IntegrityError:
                # Another process stored this range first. That can happen only before the
                # cursor row exists (FOR UPDATE has no row to lock yet); our transaction rolled
                # back whole, and the row exists now, so the retry takes the locked path.
                return self._poll_once()

    def _poll_once(self) -> int:
        start = self.next_block()
        head = self.finalized_head()
        if start > head:
            return 0
        end = min(head, start + self.batch_blocks - 1)
        logs = self.w3.eth.get_logs(
            {"fromBlock": start, "toBlock": end, "address": self._addresses}
        )
        events = decode_logs(self.deployment, logs)
        timestamps: dict[int, int] = {}
        for event in events:
            if event.block_number not in timestamps:
                block = self.w3.eth.get_block(event.block_number)
                timestamps[event.block_number] = int(block["timestamp"])
        with self.store.sessions() as db, db.begin():
            self._store_range(db, events, timestamps, end + 1)
        return end + 1 - start

    def _store_range(
        self, db: Session, events: list[LedgerEvent], timestamps: dict[int, int], next_block: int
    ) -> None:
        cursor = db.get(ChainCursor, CURSOR_NAME, with_for_update=True)
        expected = self.deployment.block_number if cursor is None else cursor.next_block
        if next_block <= expected:
            return  # another indexer got here first; nothing to add
        added: list[ChainEvent] = []
        for event in events:
            if event.block_number < expected:
                continue  # already stored by a concurrent run
            row = _row(event, timestamps[event.block_number])
            db.add(row)
            added.append(row)
        if self.after_store is not None and added:
            db.flush()
            self.after_store(db, added)
        if cursor is None:
            db.add(ChainCursor(name=CURSOR_NAME, next_block=next_block, updated_at=self.now()))
        else:
            cursor.next_block = next_block
            cursor.updated_at = self.now()

    def catch_up(self) -> int:
        """Poll until caught up with the finalized head; return the blocks indexed."""
        total = 0
        while (indexed := self.poll_once()) > 0:
            total += indexed
        return total


def events_named(db: Session, *names: str) -> list[ChainEvent]:
    """Return the stored events called one of `names`, in chain order."""
    query = (
        select(ChainEvent)
        .where(ChainEvent.name.in_(names))
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
    )
    return list(db.scalars(query))


def follower_owner() -> str:
    """A lease owner name unique to this process and start (host, pid, random suffix)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class IndexerThread:
    """Runs `ChainIndexer.poll_once` in a daemon thread until stopped; survives node outages.

    With `lease_store`, it polls only while it holds the `indexer` lease there (renewed every
    loop), so several API processes on one store run one follower between them.
    """

    def __init__(
        self,
        indexer: ChainIndexer,
        *,
        interval: float = 0.5,
        lease_store: Store | None = None,
        lease_seconds: int = FOLLOWER_LEASE_SECONDS,
        owner: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.indexer = indexer
        self.interval = interval
        self.lease_store = lease_store
        self.lease_seconds = lease_seconds
        self.owner = owner or follower_owner()
        self.wall_clock = wall_clock
        self.holds_lease = lease_store is None
        """True while this thread is the follower (always, without a lease store)."""
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chain-indexer", daemon=True)

    def start(self) -> None:
        """Start following."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current poll; idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self.lease_store is not None and self.holds_lease:
            # Hand over at once rather than make the next follower wait for the lease to lapse.
            self.holds_lease = False
            try:
                release_lease(
                    self.lease_store,
                    FOLLOWER_LEASE,
                    owner=self.owner,
                    now=int(self.wall_clock()),
                )
            except Exception as error:  # store gone: the lease lapses by itself
                _log.warning("could not release the indexer lease: %s", error)

    def _take_lease(self) -> bool:
        if self.lease_store is None:
            return True
        self.holds_lease = acquire_lease(
            self.lease_store,
            FOLLOWER_LEASE,
            owner=self.owner,
            now=int(self.wall_clock()),
            seconds=self.lease_seconds,
        )
        return self.holds_lease

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._take_lease():
                    self._stop.wait(self.interval)  # another process follows; stand by
                    continue
                indexed = self.indexer.poll_once()
                self.last_error = None
            except Exception as error:  # node down or restarting: keep the cursor, try later
                self.last_error = f"{type(error).__name__}: {error}"
                _log.warning("indexer poll failed, retrying: %s", self.last_error)
                indexed = 0
            if indexed == 0:
                self._stop.wait(self.interval)
