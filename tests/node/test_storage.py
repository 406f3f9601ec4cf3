"""One conformance suite for every KeyValueStore backend, plus a differential stateful test.

The same tests run on MemoryStore and LevelDBStore; Hypothesis drives both against a plain dict.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from node.storage import KeyValueStore, MemoryStore, StorageError, schema
from node.storage.evmdb import StateOverlay
from node.storage.leveldb import LevelDBStore

Factory = Callable[[Path], KeyValueStore]
BACKENDS: dict[str, Factory] = {
    "memory": lambda path: MemoryStore(),
    "leveldb": lambda path: LevelDBStore(path / "db"),
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyValueStore]:
    backend = BACKENDS[request.param](tmp_path)
    yield backend
    backend.close()


def test_get_put_delete(store: KeyValueStore) -> None:
    assert store.get(b"a") is None
    store.put(b"a", b"1")
    assert store.get(b"a") == b"1"
    store.put(b"a", b"2")
    assert store.get(b"a") == b"2"
    store.delete(b"a")
    assert store.get(b"a") is None
    store.delete(b"never-there")


def test_empty_value_is_not_absent(store: KeyValueStore) -> None:
    store.put(b"k", b"")
    assert store.get(b"k") == b""


def test_batch_applies_all_changes(store: KeyValueStore) -> None:
    store.put(b"old", b"x")
    with store.batch() as batch:
        batch.put(b"a", b"1")
        batch.put(b"b", b"2")
        batch.delete(b"old")
        batch.put(b"a", b"3")  # a later write in one batch wins
    assert store.get(b"a") == b"3"
    assert store.get(b"b") == b"2"
    assert store.get(b"old") is None


def test_batch_is_atomic_on_error(store: KeyValueStore) -> None:
    store.put(b"keep", b"v")
    with pytest.raises(RuntimeError), store.batch() as batch:
        batch.put(b"a", b"1")
        batch.delete(b"keep")
        raise RuntimeError("abort")
    assert store.get(b"a") is None
    assert store.get(b"keep") == b"v"


def test_batch_writes_are_invisible_until_commit(store: KeyValueStore) -> None:
    with store.batch() as batch:
        batch.put(b"a", b"1")
        assert store.get(b"a") is None
    assert store.get(b"a") == b"1"


def test_iterate_prefix_in_key_order(store: KeyValueStore) -> None:
    for number in (300, 2, 1, 256, 0):
        store.put(schema.canonical_hash_key(number), number.to_bytes(2, "big"))
    store.put(b"d-other", b"x")
    store.put(b"b", b"y")
    items = list(store.iterate_prefix(schema.CANONICAL))
    assert [schema.decode_number(key[1:]) for key, _ in items] == [0, 1, 2, 256, 300]
    assert list(store.iterate_prefix(b"zz")) == []


def test_closed_store_raises(tmp_path: Path) -> None:
    for factory in BACKENDS.values():
        backend = factory(tmp_path)
        backend.close()
        with pytest.raises(StorageError):
            backend.get(b"a")


def test_leveldb_persists_across_reopen(tmp_path: Path) -> None:
    first = LevelDBStore(tmp_path / "db")
    with first.batch() as batch:
        batch.put(b"a", b"1")
    first.close()
    second = LevelDBStore(tmp_path / "db")
    assert second.get(b"a") == b"1"
    second.close()


def test_leveldb_second_opener_gets_clear_error(tmp_path: Path) -> None:
    first = LevelDBStore(tmp_path / "db")
    with pytest.raises(StorageError, match="another node"):
        LevelDBStore(tmp_path / "db")
    first.close()


def test_schema_keys_are_fixed_width_and_ordered() -> None:
    keys = [schema.canonical_hash_key(number) for number in (0, 1, 255, 256, 2**40)]
    assert keys == sorted(keys)
    assert {len(key) for key in keys} == {9}
    assert schema.decode_tx_location(schema.encode_tx_location(7, 3)) == (7, 3)
    sender = b"\x01" * 20
    assert schema.pool_key(sender, 2) < schema.pool_key(sender, 10)


def test_state_overlay_holds_writes_until_drained(store: KeyValueStore) -> None:
    overlay = StateOverlay(store)
    with overlay.atomic_batch() as batch:
        batch[b"node"] = b"data"
    assert overlay[b"node"] == b"data"
    assert store.get(schema.state_key(b"node")) is None
    with store.batch() as write:
        assert overlay.drain_into(write) == 1
    assert store.get(schema.state_key(b"node")) == b"data"
    assert StateOverlay(store)[b"node"] == b"data"


keys = st.binary(min_size=1, max_size=4)
values = st.binary(max_size=8)


class StoreAgainstDict(RuleBasedStateMachine):
    """Random operations on both backends must match a dict model."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        self.stores: list[KeyValueStore] = [
            MemoryStore(),
            LevelDBStore(Path(self.directory.name) / "db"),
        ]
        self.model: dict[bytes, bytes] = {}

    @rule(key=keys, value=values)
    def put(self, key: bytes, value: bytes) -> None:
        for backend in self.stores:
            backend.put(key, value)
        self.model[key] = value

    @rule(key=keys)
    def delete(self, key: bytes) -> None:
        for backend in self.stores:
            backend.delete(key)
        self.model.pop(key, None)

    @rule(
        changes=st.lists(st.tuples(keys, st.one_of(st.none(), values)), max_size=6),
        fail=st.booleans(),
    )
    def batch(self, changes: list[tuple[bytes, bytes | None]], fail: bool) -> None:
        for backend in self.stores:
            try:
                with backend.batch() as pending:
                    for key, value in changes:
                        if value is None:
                            pending.delete(key)
                        else:
                            pending.put(key, value)
                    if fail:
                        raise ValueError("abort batch")
            except ValueError:
                pass
        if not fail:
            for key, value in changes:
                if value is None:
                    self.model.pop(key, None)
                else:
                    self.model[key] = value

    @rule(prefix=st.binary(max_size=2))
    def scan(self, prefix: bytes) -> None:
        expected = sorted((k, v) for k, v in self.model.items() if k.startswith(prefix))
        for backend in self.stores:
            assert list(backend.iterate_prefix(prefix)) == expected

    @invariant()
    def same_contents(self) -> None:
        for backend in self.stores:
            for key, value in self.model.items():
                assert backend.get(key) == value

    def teardown(self) -> None:
        for backend in self.stores:
            backend.close()
        self.directory.cleanup()


TestStoreAgainstDict = StoreAgainstDict.TestCase
TestStoreAgainstDict.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
