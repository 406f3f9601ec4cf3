"""Polling filters (eth_newFilter, eth_newBlockFilter, eth_newPendingTransactionFilter) and log
matching shared with subscriptions.

Invariants: a filter sees each new block (or log, or pending hash) at most once, in chain order,
from the moment it is installed; a filter nobody polls for `idle_timeout` seconds is removed, as
geth removes it after five minutes; buffers are bounded so a forgotten filter cannot grow without
end. Time is passed in (`now`), never read here, so tests need no sleeps. Head events arrive on
the block-producing thread and polls on RPC threads, so the table is guarded by one lock.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from node.ports import Address, BlockView, Hash32, LogEntry

FilterKind = Literal["logs", "blocks", "pending"]

DEFAULT_IDLE_TIMEOUT = 300.0
"""Seconds without a poll after which a filter is dropped (geth's default deadline)."""

MAX_BUFFERED = 100_000
"""Most changes kept per filter between polls; older ones are dropped first."""


class UnknownFilter(LookupError):
    """No filter with this id (never installed, uninstalled, or expired)."""


@dataclass(frozen=True)
class LogCriteria:
    """What a logs filter or subscription matches; `from_block`/`to_block` None = open-ended."""

    addresses: tuple[Address, ...] = ()
    topics: tuple[tuple[Hash32, ...] | None, ...] = ()
    from_block: int | None = None
    to_block: int | None = None
    block_hash: Hash32 | None = None
    from_tag: str | None = None
    to_tag: str | None = None


def log_matches(log: LogEntry, addresses: Sequence[Address], topics: Sequence[object]) -> bool:
    """Return whether `log` matches an address set and positional topic alternatives.

    An empty address set matches any address; a None position matches any topic; a log with
    fewer topics than positions given does not match (the eth_getLogs rule).
    """
    if addresses and log.address not in addresses:
        return False
    if len(topics) > len(log.topics):
        return False
    for position, wanted in enumerate(topics):
        if wanted is None:
            continue
        assert isinstance(wanted, tuple)
        if wanted and log.topics[position] not in wanted:
            return False
    return True


@dataclass
class InstalledFilter:
    """One installed filter and the changes it has not yet been polled for."""

    kind: FilterKind
    criteria: LogCriteria | None
    last_poll: float
    changes: list[object] = field(default_factory=list)


class FilterTable:
    """The node's installed filters, keyed by a random 16-byte hex id (as geth makes them)."""

    def __init__(self, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        self.idle_timeout = idle_timeout
        self._filters: dict[str, InstalledFilter] = {}
        self._lock = threading.Lock()

    def install(self, kind: FilterKind, now: float, criteria: LogCriteria | None = None) -> str:
        """Install a filter and return its id."""
        filter_id = "0x" + secrets.token_hex(16)
        with self._lock:
            self._filters[filter_id] = InstalledFilter(kind, criteria, now)
        return filter_id

    def uninstall(self, filter_id: str) -> bool:
        """Remove a filter; return whether it existed."""
        with self._lock:
            return self._filters.pop(filter_id.lower(), None) is not None

    def get(self, filter_id: str, now: float) -> InstalledFilter:
        """Return a filter and count this as a poll; raises UnknownFilter."""
        with self._lock:
            found = self._filters.get(filter_id.lower())
            if found is None:
                raise UnknownFilter(filter_id)
            found.last_poll = now
            return found

    def take_changes(self, filter_id: str, now: float) -> tuple[FilterKind, list[object]]:
        """Return and clear what a filter collected since its last poll; raises UnknownFilter."""
        with self._lock:
            found = self._filters.get(filter_id.lower())
            if found is None:
                raise UnknownFilter(filter_id)
            found.last_poll = now
            changes, found.changes = found.changes, []
            return found.kind, changes

    def expire(self, now: float) -> list[str]:
        """Remove filters idle for longer than `idle_timeout`; return their ids."""
        with self._lock:
            stale = [
                filter_id
                for filter_id, item in self._filters.items()
                if now - item.last_poll > self.idle_timeout
            ]
            for filter_id in stale:
                del self._filters[filter_id]
        return stale

    def __len__(self) -> int:
        with self._lock:
            return len(self._filters)

    def on_head(self, block: BlockView, logs: Sequence[LogEntry]) -> None:
        """Feed a newly finalized block to every block and logs filter."""
        with self._lock:
            for item in self._filters.values():
                if item.kind == "blocks":
                    self._append(item, [block.hash])
                elif item.kind == "logs" and item.criteria is not None:
                    criteria = item.criteria
                    if criteria.from_block is not None and block.number < criteria.from_block:
                        continue
                    if criteria.to_block is not None and block.number > criteria.to_block:
                        continue
                    matched = [
                        log for log in logs if log_matches(log, criteria.addresses, criteria.topics)
                    ]
                    if matched:
                        self._append(item, matched)

    def on_pending(self, tx_hash: Hash32) -> None:
        """Feed a newly accepted transaction hash to every pending-transaction filter."""
        with self._lock:
            for item in self._filters.values():
                if item.kind == "pending":
                    self._append(item, [tx_hash])

    @staticmethod
    def _append(item: InstalledFilter, new: Sequence[object]) -> None:
        item.changes.extend(new)
        overflow = len(item.changes) - MAX_BUFFERED
        if overflow > 0:
            del item.changes[:overflow]
