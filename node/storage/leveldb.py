"""The LevelDB KeyValueStore (through plyvel): the only module in the repository importing plyvel.

Writes are not fsynced: a `kill -9` of the node keeps everything LevelDB accepted (it sits in the
OS page cache and LevelDB's log), and a batch is atomic in LevelDB's log, so a crash leaves a block
whole or absent. Surviving power loss would need `sync=True`, at a large cost per block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import plyvel

from node.storage.base import StorageError


class LevelDBStore:
    """A KeyValueStore on a LevelDB directory (created when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db: Any = plyvel.DB(
                str(path), create_if_missing=True, lru_cache_size=64 * 1024 * 1024
            )
        except (plyvel.Error, OSError) as error:
            raise StorageError(
                f"cannot open LevelDB at {path}: {error} (is another node using this datadir?)"
            ) from error

    def _live(self) -> Any:
        if self._db is None:
            raise StorageError(f"the LevelDB store at {self.path} is closed")
        return self._db

    def get(self, key: bytes) -> bytes | None:
        """Return the value at `key`, or None."""
        value: bytes | None = self._live().get(key)
        return value

    def put(self, key: bytes, value: bytes) -> None:
        """Set `key` to `value`."""
        self._live().put(key, value)

    def delete(self, key: bytes) -> None:
        """Remove `key` if present."""
        self._live().delete(key)

    @contextmanager
    def batch(self) -> Iterator[Any]:
        """Yield a plyvel write batch; it is written atomically only on a clean exit."""
        # transaction=True makes plyvel drop the batch when the block raises.
        with self._live().write_batch(transaction=True) as pending:
            yield pending

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Yield matching items in ascending key order from a consistent snapshot."""
        with self._live().iterator(prefix=prefix) as items:
            yield from items

    def close(self) -> None:
        """Close the database; later calls raise StorageError."""
        if self._db is not None:
            self._db.close()
            self._db = None
