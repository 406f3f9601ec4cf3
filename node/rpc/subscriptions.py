"""eth_subscribe over WebSocket: per-connection subscriptions fed by new-head events.

Invariants: notifications for one connection go out in block order, each block once per
subscription; a head event (arriving on the block-producing thread) never blocks on a slow
client: it hands ready-made messages to the connection's event loop, and a connection whose
backlog passes `MAX_BACKLOG` messages is closed rather than allowed to grow memory without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from node.ports import BlockView, Hash32, LogEntry
from node.rpc.codec import data, head_json, log_json
from node.rpc.dispatch import encode
from node.rpc.filters import LogCriteria, log_matches

MAX_BACKLOG = 10_000
"""Unsent messages after which a connection counts as stuck and is closed."""


@dataclass(frozen=True)
class Subscription:
    """One eth_subscribe: its kind and, for logs, what it matches."""

    kind: str
    criteria: LogCriteria | None


class WsSession:
    """One WebSocket connection's subscriptions and its outgoing queue.

    `send` is called on the connection's event loop with each encoded message; `overflow` is
    called there once when the backlog passes `MAX_BACKLOG`.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        send: Callable[[bytes], None],
        overflow: Callable[[], None],
    ) -> None:
        self.loop = loop
        self.send = send
        self.overflow = overflow
        self.subscriptions: dict[str, Subscription] = {}
        self.backlog = 0
        self._lock = threading.Lock()

    def subscribe(self, kind: str, criteria: LogCriteria | None) -> str:
        """Start a subscription; return its id (16 random bytes, hex, as geth makes them)."""
        subscription_id = "0x" + secrets.token_hex(16)
        with self._lock:
            self.subscriptions[subscription_id] = Subscription(kind, criteria)
        return subscription_id

    def unsubscribe(self, subscription_id: str) -> bool:
        """Stop a subscription; return whether this connection had it."""
        with self._lock:
            return self.subscriptions.pop(subscription_id.lower(), None) is not None

    def snapshot(self) -> list[tuple[str, Subscription]]:
        """Return the current subscriptions (copied under the lock)."""
        with self._lock:
            return list(self.subscriptions.items())

    def push(self, message: bytes) -> None:
        """Queue `message` for sending; callable from any thread."""
        with self._lock:
            self.backlog += 1
            backlog = self.backlog
        if backlog == MAX_BACKLOG:
            self.loop.call_soon_threadsafe(self.overflow)
        if backlog >= MAX_BACKLOG:
            return
        # RuntimeError: the connection's loop has closed because the node is shutting down.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._deliver, message)

    def _deliver(self, message: bytes) -> None:
        with self._lock:
            self.backlog -= 1
        self.send(message)


def notification(subscription_id: str, result: Any) -> bytes:
    """Return an eth_subscription notification message."""
    return encode(
        {
            "jsonrpc": "2.0",
            "method": "eth_subscription",
            "params": {"subscription": subscription_id, "result": result},
        }
    )


class SubscriptionHub:
    """All open WebSocket sessions; turns head and pending events into notifications."""

    def __init__(self) -> None:
        self._sessions: set[WsSession] = set()
        self._lock = threading.Lock()

    def add(self, session: WsSession) -> None:
        """Register an open connection."""
        with self._lock:
            self._sessions.add(session)

    def remove(self, session: WsSession) -> None:
        """Forget a closed connection."""
        with self._lock:
            self._sessions.discard(session)

    def sessions(self) -> list[WsSession]:
        """Return the open sessions."""
        with self._lock:
            return list(self._sessions)

    def on_head(self, block: BlockView, logs: Sequence[LogEntry]) -> None:
        """Notify newHeads and logs subscribers of a newly finalized block (any thread)."""
        head: Any = None
        for session in self.sessions():
            for subscription_id, subscription in session.snapshot():
                if subscription.kind == "newHeads":
                    if head is None:
                        head = head_json(block)
                    session.push(notification(subscription_id, head))
                elif subscription.kind == "logs" and subscription.criteria is not None:
                    criteria = subscription.criteria
                    if criteria.from_block is not None and block.number < criteria.from_block:
                        continue
                    if criteria.to_block is not None and block.number > criteria.to_block:
                        continue
                    for log in logs:
                        if log_matches(log, criteria.addresses, criteria.topics):
                            session.push(notification(subscription_id, log_json(log)))

    def on_pending(self, tx_hash: Hash32) -> None:
        """Notify newPendingTransactions subscribers of an accepted transaction hash."""
        for session in self.sessions():
            for subscription_id, subscription in session.snapshot():
                if subscription.kind == "newPendingTransactions":
                    session.push(notification(subscription_id, data(tx_hash)))
