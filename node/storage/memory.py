"""An in-memory KeyValueStore for tests and throwaway nodes: a dict plus the batch semantics.

It keeps the same invariants as the LevelDB backend (atomic batches, ordered prefix scans), which
the shared conformance suite checks, so a test on memory says something about LevelDB.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from node.storage.base import StorageError


class MemoryWriteBatch:
    """Changes of one batch: key -> new value, or None for a delete."""

    def __init__(self) -> None:
        self.changes: dict[bytes, bytes | None] = {}

    def put(self, key: bytes, value: bytes) -> None:
        """Record a put."""
        self.changes[bytes(key)] = bytes(value)

    def delete(self, key: bytes) -> None:
        """Record a delete."""
        self.changes[bytes(key)] = None


class MemoryStore:
    """A dict-backed KeyValueStore."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] | None = {}

    def _live(self) -> dict[bytes, bytes]:
        if self._data is None:
            raise StorageError("the memory store is closed")
        return self._data

    def get(self, key: bytes) -> bytes | None:
        """Return the value at `key`, or None."""
        return self._live().get(bytes(key))

    def put(self, key: bytes, value: bytes) -> None:
        """Set `key` to `value`."""
        self._live()[bytes(key)] = bytes(value)

    def delete(self, key: bytes) -> None:
        """Remove `key` if present."""
        self._live().pop(bytes(key), None)

    @contextmanager
    def batch(self) -> Iterator[MemoryWriteBatch]:
        """Yield a batch applied all at once on a clean exit, dropped on an exception."""
        data = self._live()
        pending = MemoryWriteBatch()
        yield pending
        for key, value in pending.changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Yield matching items in ascending key order (a snapshot of the keys at call time)."""
        data = self._live()
        for key in sorted(key for key in data if key.startswith(prefix)):
            value = data.get(key)
            if value is not None:
                yield key, value

    def close(self) -> None:
        """Drop the data; later calls raise StorageError."""
        self._data = None
