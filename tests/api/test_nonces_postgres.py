"""Nonces shared by several API processes through a real PostgreSQL store (api.chain.nonces).

Eight TransactionSender instances (as eight API processes would hold) send concurrently through
one account, the platform's, to a real dev node with 0.1 s blocks: every transaction is final and
successful, their nonces are contiguous, none is lost or used twice. Around that, the store's
rules on their own, with racing threads: distinct contiguous nonces, a nonce given back is
re-used (by the counter when it was the last, as a gap otherwise), gaps the node has filled are
dropped; and the sender re-syncs once after "nonce too low".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from api.chain.nonces import HOLE_SECONDS, LocalNonces, StoreNonces, nonces_for
from api.chain.sender import TransactionSender
from api.store.database import Store, open_store
from api.store.models import SenderNonce, SenderNonceGap
from contracts.client import LedgerClient, Sent
from contracts.domain import mykey_id_bytes
from tests.api.postgres_server import PostgresServer
from tests.api_chain.conftest import KAWASAKI, ChainWorld, random_mykey_id, running_world

pytestmark = pytest.mark.realstack

RACERS = 8
"""Threads (as processes) racing for one address's nonces."""
SENDS_EACH = 4
ADDRESS = "0x" + "ab" * 20


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_store(postgres: PostgresServer) -> Iterator[Store]:
    store = open_store(postgres.new_database())
    yield store
    store.close()


@pytest.fixture(scope="module")
def fast_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with running_world(tmp_path_factory, block_period=0.1) as world:
        yield world


def _now() -> int:
    return 1_800_000_000


def _constant(value: int) -> Callable[[], int]:
    return lambda: value


def test_racing_takes_are_distinct_and_contiguous(pg_store: Store) -> None:
    nonces = StoreNonces(pg_store, now=_now)

    def take_many(_: int) -> list[int]:
        return [nonces.take(ADDRESS, _constant(5)) for _ in range(25)]

    with ThreadPoolExecutor(RACERS) as pool:
        taken = [n for batch in pool.map(take_many, range(RACERS)) for n in batch]
    assert sorted(taken) == list(range(5, 5 + RACERS * 25))
    with pg_store.sessions() as db:
        row = db.get(SenderNonce, ADDRESS)
        assert row is not None and row.next_nonce == 5 + RACERS * 25


def test_pending_count_above_the_store_wins(pg_store: Store) -> None:
    nonces = StoreNonces(pg_store, now=_now)
    assert nonces.take(ADDRESS, _constant(0)) == 0
    # Another signer (or a restarted node's history) moved the account on: re-sync upward.
    assert nonces.take(ADDRESS, _constant(9)) == 9
    assert nonces.take(ADDRESS, _constant(3)) == 10


def test_last_nonce_given_back_is_reused_by_the_counter(pg_store: Store) -> None:
    nonces = StoreNonces(pg_store, now=_now)
    assert nonces.take(ADDRESS, _constant(0)) == 0
    assert nonces.take(ADDRESS, _constant(0)) == 1
    nonces.give_back(ADDRESS, 1)
    assert nonces.take(ADDRESS, _constant(0)) == 1
    with pg_store.sessions() as db:
        assert db.scalars(select(SenderNonceGap)).all() == []


def test_nonce_given_back_below_a_later_one_becomes_a_gap_taken_first(pg_store: Store) -> None:
    nonces = StoreNonces(pg_store, now=_now)
    first, second, third = (nonces.take(ADDRESS, _constant(0)) for _ in range(3))
    nonces.give_back(ADDRESS, first)  # second and third were already handed out
    with pg_store.sessions() as db:
        assert [gap.nonce for gap in db.scalars(select(SenderNonceGap))] == [first]
    assert nonces.take(ADDRESS, _constant(0)) == first  # fills the hole
    assert nonces.take(ADDRESS, _constant(0)) == third + 1
    assert second == first + 1


def test_gaps_the_node_has_filled_are_dropped(pg_store: Store) -> None:
    nonces = StoreNonces(pg_store, now=_now)
    for _ in range(4):
        nonces.take(ADDRESS, _constant(0))
    nonces.give_back(ADDRESS, 1)
    # The node's pending count says nonces 0..4 are used: the gap at 1 was filled elsewhere.
    assert nonces.take(ADDRESS, _constant(5)) == 5
    with pg_store.sessions() as db:
        assert db.scalars(select(SenderNonceGap)).all() == []


def test_a_hole_left_by_a_sender_that_died_is_handed_out_again(pg_store: Store) -> None:
    clock = [1_800_000_000]
    nonces = StoreNonces(pg_store, now=lambda: clock[0])
    assert nonces.take(ADDRESS, _constant(5)) == 5  # taken by a process that then dies unsent
    assert nonces.take(ADDRESS, _constant(5)) == 6  # sent: waits in the node's future queue
    clock[0] += HOLE_SECONDS - 1
    assert nonces.take(ADDRESS, _constant(5)) == 7  # not yet: 5 may still be on its way
    clock[0] += 1
    assert nonces.take(ADDRESS, _constant(5)) == 5  # the count stood still: fill the hole
    assert nonces.take(ADDRESS, _constant(5)) == 8  # and only once per HOLE_SECONDS
    clock[0] += 1
    assert nonces.take(ADDRESS, _constant(9)) == 9  # the node moved on: back to the counter


def test_eight_senders_share_one_account_without_collision(
    fast_world: ChainWorld, pg_store: Store
) -> None:
    w3 = fast_world.w3
    platform = fast_world.config.platform
    start = int(w3.eth.get_transaction_count(platform, "pending"))
    senders = [
        TransactionSender(
            w3,
            fast_world.config.deployment,
            fast_world.keys,
            block_period_seconds=0.1,
            nonces=StoreNonces(pg_store, now=_now),
        )
        for _ in range(RACERS)
    ]
    registry = LedgerClient(w3, fast_world.config.deployment).registry

    def send_from(sender: TransactionSender) -> list[Sent]:
        return [
            sender.send(
                platform,
                registry.functions.register(mykey_id_bytes(random_mykey_id()), KAWASAKI),
            )
            for _ in range(SENDS_EACH)
        ]

    with ThreadPoolExecutor(RACERS) as pool:
        sent = [item for batch in pool.map(send_from, senders) for item in batch]

    total = RACERS * SENDS_EACH
    assert len(sent) == total
    assert all(item.receipt["status"] == 1 for item in sent)
    nonces = sorted(
        int(w3.eth.get_transaction(item.receipt["transactionHash"])["nonce"]) for item in sent
    )
    assert nonces == list(range(start, start + total))
    assert int(w3.eth.get_transaction_count(platform, "latest")) == start + total
    with pg_store.sessions() as db:
        row = db.get(SenderNonce, platform)
        assert row is not None and row.next_nonce == start + total


class _StaleOnce:
    """A nonce source whose first answer is a nonce the node has already mined (a stale count)."""

    def __init__(self, inner: StoreNonces, stale: int) -> None:
        self.inner = inner
        self.stale: int | None = stale
        self.resyncs = 0

    def take(self, address: str, pending: Callable[[], int]) -> int:
        if self.stale is not None:
            nonce, self.stale = self.stale, None
            return nonce
        return self.inner.take(address, pending)

    def resync(self, address: str) -> None:
        self.resyncs += 1
        self.inner.resync(address)

    def give_back(self, address: str, nonce: int) -> None:
        self.inner.give_back(address, nonce)


def test_nonce_too_low_resyncs_and_retries_once(fast_world: ChainWorld, pg_store: Store) -> None:
    w3 = fast_world.w3
    platform = fast_world.config.platform
    mined = int(w3.eth.get_transaction_count(platform, "latest"))
    assert mined > 0  # the demo deployment registered things as the platform already
    source = _StaleOnce(StoreNonces(pg_store, now=_now), stale=mined - 1)
    sender = TransactionSender(
        w3, fast_world.config.deployment, fast_world.keys, block_period_seconds=0.1, nonces=source
    )
    registry = LedgerClient(w3, fast_world.config.deployment).registry
    sent = sender.send(
        platform, registry.functions.register(mykey_id_bytes(random_mykey_id()), KAWASAKI)
    )
    assert sent.receipt["status"] == 1
    assert source.resyncs == 1
    assert int(w3.eth.get_transaction(sent.receipt["transactionHash"])["nonce"]) >= mined


def test_postgres_store_shares_nonces_and_sqlite_keeps_them_in_memory(
    pg_store: Store, tmp_path: Path
) -> None:
    assert isinstance(nonces_for(pg_store, now=_now), StoreNonces)
    sqlite = open_store(f"sqlite:///{tmp_path / 'api.sqlite'}")
    try:
        # SQLite's one writer may be the very request that sends: memory, not the store.
        assert isinstance(nonces_for(sqlite, now=_now), LocalNonces)
    finally:
        sqlite.close()


def test_local_nonces_ask_the_node_once_until_resynced() -> None:
    asked: list[int] = []

    def pending() -> int:
        asked.append(1)
        return 7

    nonces = LocalNonces()
    assert [nonces.take(ADDRESS, pending) for _ in range(3)] == [7, 8, 9]
    assert len(asked) == 1
    nonces.resync(ADDRESS)
    assert nonces.take(ADDRESS, pending) == 7  # the node's count again (7, 8, 9 never pooled)
    assert len(asked) == 2


def test_local_nonces_reuse_a_given_back_nonce_as_the_store_does() -> None:
    nonces = LocalNonces()
    first, _second, third = (nonces.take(ADDRESS, _constant(0)) for _ in range(3))
    nonces.give_back(ADDRESS, third)  # the last: the counter steps back
    nonces.give_back(ADDRESS, first)  # below a later one: a gap, taken first
    assert nonces.take(ADDRESS, _constant(0)) == first
    assert nonces.take(ADDRESS, _constant(0)) == third
    assert nonces.take(ADDRESS, _constant(0)) == third + 1
