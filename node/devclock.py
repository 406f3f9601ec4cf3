"""The block clock a node produces and imports blocks by, with a dev-only offset.

Every node reads block time through a `BlockClock`. On a production node it is the wall clock.
On a dev node (`[dev] clock_control = true`, set only by `init_dev_datadir`, or
`ServiceOptions.clock_control`) the JSON-RPC methods `evm_increaseTime`,
`evm_setNextBlockTimestamp` and `evm_mine` move it, as Hardhat and Anvil do.

Invariants: the offset only grows, and `now()` never returns less than it returned before, so
block timestamps never go backwards; the same clock feeds the producer's timestamp and the
chain's import rule (timestamp <= now + 1 s), so a block made after `evm_increaseTime` is valid
on this node. A pinned next timestamp is used by exactly one block and then cleared.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ClockControlError(ValueError):
    """A dev clock request that would move block time backwards or is not a valid number."""


class BlockClock:
    """Wall time plus a non-negative offset, never going backwards; thread safe."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._offset = 0
        self._last = 0.0
        self._next_timestamp: int | None = None
        self._lock = threading.Lock()

    @property
    def offset(self) -> int:
        """Seconds added to the wall clock so far."""
        with self._lock:
            return self._offset

    def now(self) -> float:
        """Return block time: wall time plus the offset, never less than a previous answer."""
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> float:
        self._last = max(self._last, self._wall() + self._offset)
        return self._last

    def increase_time(self, seconds: int) -> int:
        """Add `seconds` (>= 0) to the offset; return the new total offset in seconds."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ClockControlError(
                f"time can only move forward: give a whole number of seconds >= 0, got {seconds!r}"
            )
        with self._lock:
            self._offset += seconds
            return self._offset

    def set_next_block_timestamp(self, timestamp: int, parent_timestamp: int) -> None:
        """Pin the next block's timestamp; the clock jumps forward to it when it is ahead.

        Raises ClockControlError when `timestamp` is before the parent's (time never goes back).
        """
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise ClockControlError(f"the timestamp must be a whole number, got {timestamp!r}")
        if timestamp < parent_timestamp:
            raise ClockControlError(
                f"timestamp {timestamp} is before the latest block's {parent_timestamp}; "
                "block time never goes backwards"
            )
        with self._lock:
            ahead = timestamp - self._now_locked()
            if ahead > 0:
                # Whole seconds, rounded up, so the import rule (ts <= now + 1) holds for it.
                self._offset += int(ahead) + (0 if ahead == int(ahead) else 1)
            self._next_timestamp = timestamp

    def advance_to(self, timestamp: int) -> None:
        """Move the offset forward so that `now() >= timestamp - 1` (for `evm_mine`)."""
        with self._lock:
            behind = timestamp - 1 - self._now_locked()
            if behind > 0:
                self._offset += int(behind) + 1

    def pinned_timestamp(self) -> int | None:
        """Return the timestamp `evm_setNextBlockTimestamp` pinned for the next block, if any."""
        with self._lock:
            return self._next_timestamp

    def consume_pinned(self, timestamp: int) -> None:
        """Forget the pinned timestamp once a block with `timestamp` used it."""
        with self._lock:
            if self._next_timestamp == timestamp:
                self._next_timestamp = None
