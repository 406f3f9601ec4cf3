"""py-evm's database interface over our KeyValueStore, with the writes held back for one batch.

py-evm's state (`AccountDB`) reads and writes trie nodes and code through an
`eth.abc.AtomicDatabaseAPI`. `StateOverlay` gives it one: reads come from its pending writes first,
then from the store under the `s` table of the schema; writes stay pending in memory until the chain
moves them into the block's single atomic batch (`drain_into`). So state nodes of a block reach
LevelDB in the same write as its header and the new head pointer, never before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from eth.abc import AtomicWriteBatchAPI
from eth.db.atomic import AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB

from node.storage.base import KeyValueStore, WriteBatch
from node.storage.schema import STATE


class StateOverlay(BaseAtomicDB):
    """An AtomicDatabaseAPI for py-evm state whose writes wait for `drain_into`."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store
        self.pending: dict[bytes, bytes | None] = {}

    def __getitem__(self, key: bytes) -> bytes:
        value = self.pending[key] if key in self.pending else self._store.get(STATE + key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self.pending[key] = None

    def _exists(self, key: bytes) -> bool:
        if key in self.pending:
            return self.pending[key] is not None
        return self._store.get(STATE + key) is not None

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        """Yield py-evm's readable write batch; it lands in `pending` unless the block raises."""
        with AtomicDBWriteBatch._commit_unless_raises(self) as batch:
            yield batch

    def drain_into(self, batch: WriteBatch) -> int:
        """Move every pending write into `batch`; return how many there were."""
        count = len(self.pending)
        for key, value in self.pending.items():
            if value is None:
                batch.delete(STATE + key)
            else:
                batch.put(STATE + key, value)
        self.pending = {}
        return count

    def discard(self) -> None:
        """Forget pending writes (a block that failed to build or import)."""
        self.pending = {}
