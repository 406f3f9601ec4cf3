"""Where a sending address's next nonce comes from: this process's memory, or the shared store.

Two API processes holding the same key must never sign two transactions with one nonce, so with a
store every nonce is taken from the address's `sender_nonces` row under a lock held only while
allocating (an UPDATE of the row first, then SELECT ... FOR UPDATE: PostgreSQL's row lock, SQLite's
single writer): the transaction reads
the row, moves it on and commits, and the signing and sending happen after it.

Invariants (both sources):
- `take` never returns a nonce below the node's `pending` count it is given: the next nonce is
  max(stored, pending), so a node that restarted or mined another holder's transactions re-syncs.
- No nonce is handed out twice while it may still reach the node: only `give_back` returns one,
  and only the caller whose send failed before reaching the node calls it.
- No hole is left behind: a nonce given back when a later one was already handed out is kept as
  a gap, and the next `take` re-uses the lowest gap before moving the counter. Re-use, rather than
  a zero-value self-transfer, because a send that did not reach the node usually failed because
  the node is unreachable, so a filler would fail the same way; the next send fills the hole
  whenever it comes, and the later nonces wait in the node's future queue until then. Gaps below
  the node's `pending` count were filled by someone and are dropped. A sender that dies between
  taking and sending reports nothing; the store notices that the node's pending count has stood
  still for `HOLE_SECONDS` although it is ahead of it, and hands that nonce out again.

`nonces_for` picks the source: the store on PostgreSQL, memory on SQLite (see why there).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.store.database import Store
from api.store.models import SenderNonce, SenderNonceGap

HOLE_SECONDS = 30
"""How long the node's pending count may stand still, while the store is ahead of it, before the
nonce it waits for counts as lost (taken by a process that died before sending)."""


class NonceSource(Protocol):
    """Hands out the nonces of sending addresses; safe to use from many threads."""

    def take(self, address: str, pending: Callable[[], int]) -> int:
        """Return `address`'s next nonce, at least `pending()` (the node's pending count)."""
        ...

    def resync(self, address: str) -> None:
        """The node refused a nonce as used: the next `take` must ask it for `pending` again."""
        ...

    def give_back(self, address: str, nonce: int) -> None:
        """`nonce` never reached the node: hand it out again (see the module's gap rule)."""
        ...


class LocalNonces:
    """Nonces in this process's memory: right only when one process holds the keys."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}
        self._gaps: dict[str, set[int]] = {}

    def take(self, address: str, pending: Callable[[], int]) -> int:
        """See NonceSource.take; asks the node only when this process has no count yet.

        The fast path: nobody else signs for the address, so the count in memory is right.
        """
        with self._lock:
            gaps = self._gaps.setdefault(address, set())
            known = self._next.get(address)
            if known is None:
                known = pending()
                gaps.difference_update({gap for gap in gaps if gap < known})
            if gaps:
                nonce = min(gaps)
                gaps.discard(nonce)
                self._next[address] = known
                return nonce
            self._next[address] = known + 1
            return known

    def resync(self, address: str) -> None:
        """See NonceSource.resync: drop the count in memory and the gaps below the node's."""
        with self._lock:
            self._next.pop(address, None)

    def give_back(self, address: str, nonce: int) -> None:
        """See NonceSource.give_back."""
        with self._lock:
            if self._next.get(address) == nonce + 1:
                self._next[address] = nonce
            else:
                self._gaps.setdefault(address, set()).add(nonce)


class StoreNonces:
    """Nonces in the private store, shared by every API process on it."""

    def __init__(self, store: Store, *, now: Callable[[], int]) -> None:
        self.store = store
        self.now = now
        self._rows: set[str] = set()
        """Addresses whose row is known to exist (rows are never deleted): no lookup per send."""

    def _locked_row(self, db: Session, address: str) -> SenderNonce | None:
        # Write first, read second: the UPDATE takes PostgreSQL's row lock and SQLite's write
        # lock before anything is read, so SQLite never has to upgrade a read snapshot (which
        # fails at once with "database is locked" instead of waiting its busy timeout).
        db.execute(
            update(SenderNonce)
            .where(SenderNonce.address == address)
            .values(updated_at=self.now())
            .execution_options(synchronize_session=False)
        )
        return db.get(SenderNonce, address, with_for_update=True)

    def _ensure_row(self, address: str, pending: int) -> None:
        if address in self._rows:
            return
        with self.store.sessions() as db:
            exists = db.get(SenderNonce, address) is not None
        if not exists:
            try:
                with self.store.sessions() as db, db.begin():
                    db.add(SenderNonce(address=address, next_nonce=pending, updated_at=self.now()))
            except IntegrityError:
                pass  # another process created it first; the locked read below uses theirs
        self._rows.add(address)

    def take(self, address: str, pending: Callable[[], int]) -> int:
        """See NonceSource.take; asks the node first, then one short locked transaction.

        The node is asked every time (before the lock, so the lock is not held across a
        JSON-RPC call): another holder of the key or a node that lost its pool re-syncs at once.
        """
        pending_count = pending()
        self._ensure_row(address, pending_count)
        with self.store.sessions() as db, db.begin():
            row = self._locked_row(db, address)
            if row is None:
                raise LookupError(f"sender_nonces row for {address} vanished: is a migration off?")
            db.execute(
                delete(SenderNonceGap).where(
                    SenderNonceGap.address == address, SenderNonceGap.nonce < pending_count
                )
            )
            gap = db.scalars(
                select(SenderNonceGap)
                .where(SenderNonceGap.address == address)
                .order_by(SenderNonceGap.nonce)
                .limit(1)
            ).first()
            if gap is not None:
                nonce = gap.nonce
                db.delete(gap)
                return nonce
            now = self.now()
            if row.pending_seen != pending_count or row.pending_since is None:
                row.pending_seen, row.pending_since = pending_count, now
            elif row.next_nonce > pending_count and now - row.pending_since >= HOLE_SECONDS:
                # The node's count stood still although later nonces were handed out: the nonce
                # it waits for was taken by a sender that died before sending. Hand it out again
                # (once per HOLE_SECONDS; were it merely slow, the node refuses one of the two as
                # used and that sender re-syncs).
                row.pending_since = now
                row.updated_at = now
                return pending_count
            nonce = max(row.next_nonce, pending_count)
            row.next_nonce = nonce + 1
            row.updated_at = now
            return nonce

    def resync(self, address: str) -> None:
        """See NonceSource.resync: nothing to drop, `take` asks the node every time."""

    def give_back(self, address: str, nonce: int) -> None:
        """See NonceSource.give_back; under the same row lock as `take`."""
        with self.store.sessions() as db, db.begin():
            row = self._locked_row(db, address)
            if row is not None and row.next_nonce == nonce + 1:
                row.next_nonce = nonce
                row.updated_at = self.now()
            else:
                db.add(SenderNonceGap(address=address, nonce=nonce))


def nonces_for(store: Store, *, now: Callable[[], int]) -> NonceSource:
    """The nonce source for an API process on `store`: shared on PostgreSQL, in memory on SQLite.

    Why not the store on SQLite: a request may hold SQLite's one write lock (its own
    transaction) while it sends, so a second connection taking a nonce would wait for that very
    request and time out ("database is locked"). Several API processes therefore need PostgreSQL;
    one process on SQLite keeps the in-memory count, which is also the faster path.
    """
    if store.engine.dialect.name == "sqlite":
        return LocalNonces()
    return StoreNonces(store, now=now)
