"""The key-value storage Protocol every backend implements, and its batch Protocol.

Invariants a backend keeps: a batch is atomic (a crash or an exception inside `with store.batch()`
leaves none of its writes), reads inside a batch see the store as it was before the batch, later
writes in one batch win over earlier ones, and `iterate_prefix` yields keys in ascending order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol


class StorageError(Exception):
    """The storage backend failed (cannot open, closed, corrupt); the message says which path."""


class WriteBatch(Protocol):
    """Changes collected for one atomic write."""

    def put(self, key: bytes, value: bytes) -> None:
        """Set `key` to `value` when the batch commits."""
        ...

    def delete(self, key: bytes) -> None:
        """Remove `key` (if present) when the batch commits."""
        ...


class KeyValueStore(Protocol):
    """A bytes-to-bytes store with atomic batches and ordered prefix scans."""

    def get(self, key: bytes) -> bytes | None:
        """Return the value at `key`, or None when absent."""
        ...

    def put(self, key: bytes, value: bytes) -> None:
        """Set `key` to `value` (durable against a process crash once this returns)."""
        ...

    def delete(self, key: bytes) -> None:
        """Remove `key`; absent keys are fine."""
        ...

    def batch(self) -> AbstractContextManager[WriteBatch]:
        """Return a context manager whose batch is written atomically on a clean exit.

        An exception inside the `with` block discards every change of the batch.
        """
        ...

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Yield (key, value) for every key starting with `prefix`, in ascending key order."""
        ...

    def close(self) -> None:
        """Release the backend; further calls raise StorageError."""
        ...
