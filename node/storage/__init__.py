"""The node's key-value storage: one small interface, two backends (memory, LevelDB).

The contract (after py-evm's `eth/db/backends/base.py`): bytes keys to bytes values,
`get`/`put`/`delete`, an atomic `batch()` that writes all of its changes or none, and
`iterate_prefix` that yields keys in ascending unsigned byte order. Every key is built by
`node.storage.schema`; nothing else invents keys. The conformance suite in
tests/node/test_storage.py runs against both backends.
"""

from __future__ import annotations

from node.storage.base import KeyValueStore, StorageError, WriteBatch
from node.storage.memory import MemoryStore

__all__ = ["KeyValueStore", "MemoryStore", "StorageError", "WriteBatch"]
