"""The store's tables added after the first migration, on a real PostgreSQL server.

SQLite serialises every writer, so a race that is harmless there can double-spend on PostgreSQL
(READ COMMITTED, real concurrency). These tests run what the API does with those tables against a
throwaway PostgreSQL cluster, with real threads racing where the API relies on the database:

- grants (v2): one ledger grant per idempotency key, even when two requests race;
- terminal actions (v3): a statement is claimed by exactly one of many racing card answers;
- terminal nonces (v3): a replayed request is refused, also when both copies race;
- the chain event index and its cursor (v3): resume after a restart or a crash mid-range with no
  gap and no double, and two indexers (two processes) racing over the same blocks;
- card bindings (v3): conflicts refused, racing renewals move a MyKey ID once; racing FIRST
  binds of one card bind it once (the v5 partial unique indexes);
- audit records and service links (v1 tables the chain side writes more of): Japanese detail
  kept, newest first; service IDs only as ciphertext in the database.

The chain source of the indexer is a fake with real ABI-encoded logs of the PointLedger (the
indexer's contract with the node is eth_getLogs / eth_getBlockByNumber only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from web3 import Web3

from api.app import create_app
from api.chain.actions import ActionState, claim_action, open_action
from api.chain.errors import ActionExpired, TerminalRequestInvalid
from api.chain.ledger import TerminalRegistration
from api.chain.terminal_requests import NONCE_MEMORY_SECONDS, SignedRequest, remember_nonce
from api.indexer.follower import ChainIndexer
from api.passwords import PasswordService
from api.service_id_cipher import ServiceIdCipher, load_or_create_key
from api.services.audit import SYSTEM_ACTOR, Actor, ActorKind, list_audit_records, record_audit
from api.services.service_links import link_service, lookup_service_id
from api.services.staff import create_staff_account
from api.settings import ApiSettings
from api.store import bindings as bindings_module
from api.store.bindings import SqlBindingStore
from api.store.database import Store, open_store
from api.store.models import (
    Account,
    CardBinding,
    ChainCursor,
    ChainEvent,
    Grant,
    ServiceLink,
    TerminalAction,
)
from card_bridge.platform_checks.authentication import AuthenticatedCard
from card_bridge.platform_checks.binding import (
    Binding,
    BindingService,
    CardAlreadyBound,
    CardNotBound,
    MykeyId,
    MykeyIdAlreadyBound,
)
from card_bridge.platform_checks.certificates import Purpose
from card_bridge.virtual_card.issuance import TestAuthority, issue_card
from contracts.deploy import Deployment
from contracts.domain import TerminalKind
from contracts.events import event_topic, municipality_topic, mykey_topic
from tests.api.conftest import (
    FAST_HASHING,
    FakeCardVerifier,
    FakeClock,
    FakeLedger,
    FakePointsLedger,
    SequenceGenerator,
    register_resident,
)
from tests.api.postgres_server import PostgresServer

pytestmark = pytest.mark.realstack

RACERS = 8
"""Threads racing for one row: enough to interleave on 2 cores, few enough to stay quick."""
TERMINAL = "0x" + "ab" * 20
DEPLOYMENT = Deployment(
    chain_id=1337,
    consortium=Web3.to_checksum_address("0x" + "01" * 20),
    registry=Web3.to_checksum_address("0x" + "02" * 20),
    ledger=Web3.to_checksum_address("0x" + "03" * 20),
    settlement=Web3.to_checksum_address("0x" + "04" * 20),
    block_number=10,
)
KAWASAKI = 14130


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_settings(settings: ApiSettings, postgres: PostgresServer) -> ApiSettings:
    return dataclasses.replace(settings, database_url=postgres.new_database())


@pytest.fixture
def pg_points(ledger: FakeLedger) -> FakePointsLedger:
    return FakePointsLedger(registry=ledger)


@pytest.fixture
def pg_client(
    pg_settings: ApiSettings, clock: FakeClock, ledger: FakeLedger, pg_points: FakePointsLedger
) -> Iterator[TestClient]:
    app = create_app(
        pg_settings,
        ledger=ledger,
        points=pg_points,
        cards=FakeCardVerifier(),
        clock=clock,
        generate_candidate=SequenceGenerator(),
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def pg_store(pg_settings: ApiSettings, pg_client: TestClient) -> Iterator[Store]:
    """A second handle on the migrated PostgreSQL store (the app migrated it)."""
    store = open_store(pg_settings.database_url)
    assert store.engine.dialect.name == "postgresql"
    yield store
    store.close()


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads released together; return results or raised errors."""
    barrier = threading.Barrier(count, timeout=20)

    def run(index: int) -> Any:
        barrier.wait()
        try:
            return work(index)
        except Exception as error:  # the race's losers: kept to be asserted on
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


# ---- grants (version 2) ---------------------------------------------------------------------


def test_racing_grants_with_one_idempotency_key_grant_once(
    pg_client: TestClient,
    pg_store: Store,
    pg_points: FakePointsLedger,
    clock: FakeClock,
) -> None:
    register_resident(pg_client, "TANAKA01")
    with pg_store.sessions() as db:
        create_staff_account(
            db=db,
            passwords=PasswordService(FAST_HASHING),
            actor=SYSTEM_ACTOR,
            login_name="kawasaki.staff",
            password="staff passphrase 1",
            role="municipal-staff",
            organisation=str(KAWASAKI),
            now=clock.now(),
        )
    token = pg_client.post(
        "/staff/sessions",
        json={"login_name": "kawasaki.staff", "password": "staff passphrase 1"},
    ).json()["token"]

    def post(_index: int) -> int:
        response = pg_client.post(
            "/grants",
            json={"mykey_id": "TANAKA01", "points": 300, "activity": "volunteering"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "day-7-line-1"},
        )
        return int(response.status_code)

    statuses = race(4, post)

    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {201, 200, 409}  # the rest: already granted, or still in flight
    assert len(pg_points.grants) == 1
    with pg_store.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Grant)) == 1
    again = post(0)
    assert again == 200  # a later retry answers the first outcome
    assert len(pg_points.grants) == 1


# ---- terminal actions and nonces (version 3) ---------------------------------------------------


def _registration() -> TerminalRegistration:
    return TerminalRegistration(
        address=Web3.to_checksum_address(TERMINAL),
        kind=TerminalKind.POINT_USE,
        owner_kind=2,
        owner_id=7,
    )


def test_a_terminal_action_is_claimed_by_exactly_one_racing_answer(
    pg_store: Store, clock: FakeClock
) -> None:
    terminal = _registration()
    with pg_store.sessions() as db:
        opened = open_action(
            db=db, kind="redemption", terminal=terminal, amount=400, now=clock.now(), ttl=120
        )

    def claim(_index: int) -> TerminalAction:
        with pg_store.sessions() as db:
            return claim_action(
                db=db,
                kind="redemption",
                action_id=opened.action_id,
                terminal=terminal.address,
                now=clock.now(),
            )

    results = race(RACERS, claim)

    winners = [r for r in results if isinstance(r, TerminalAction)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ActionExpired) for r in results if r is not winners[0])
    with pg_store.sessions() as db:
        stored = db.get(TerminalAction, opened.action_id)
        assert stored is not None and stored.state == ActionState.SUBMITTING
        assert stored.statement == opened.statement and stored.amount == 400


def test_an_action_is_not_claimed_by_another_terminal_or_after_it_expired(
    pg_store: Store, clock: FakeClock
) -> None:
    terminal = _registration()
    with pg_store.sessions() as db:
        opened = open_action(
            db=db, kind="redemption", terminal=terminal, amount=5, now=clock.now(), ttl=120
        )
        with pytest.raises(ActionExpired):
            claim_action(
                db=db,
                kind="redemption",
                action_id=opened.action_id,
                terminal=Web3.to_checksum_address("0x" + "cd" * 20),
                now=clock.now(),
            )
        with pytest.raises(ActionExpired):
            claim_action(
                db=db,
                kind="voucher",
                action_id=opened.action_id,
                terminal=terminal.address,
                now=clock.now(),
            )
        with pytest.raises(ActionExpired):
            claim_action(
                db=db,
                kind="redemption",
                action_id=opened.action_id,
                terminal=terminal.address,
                now=clock.now() + 121,
            )
        stored = db.get(TerminalAction, opened.action_id)
        assert stored is not None and stored.state == ActionState.OPEN


def _signed(nonce: str, timestamp: int) -> SignedRequest:
    return SignedRequest(
        terminal=Web3.to_checksum_address(TERMINAL),
        timestamp=timestamp,
        nonce=nonce,
        signature="0x" + "00" * 65,
    )


def test_a_replayed_nonce_is_refused_even_when_both_copies_race(
    pg_store: Store, clock: FakeClock
) -> None:
    nonce = secrets.token_hex(16)
    with pg_store.sessions() as db:
        remember_nonce(db, _signed(nonce, clock.now()), clock.now())
        with pytest.raises(TerminalRequestInvalid, match="replay"):
            remember_nonce(db, _signed(nonce, clock.now()), clock.now())

    racing = secrets.token_hex(16)

    def remember(_index: int) -> None:
        with pg_store.sessions() as db:
            remember_nonce(db, _signed(racing, clock.now()), clock.now())

    results = race(RACERS, remember)

    assert results.count(None) == 1, results
    assert all(isinstance(r, TerminalRequestInvalid) for r in results if r is not None)


def test_old_nonces_are_forgotten_only_after_the_memory_window(
    pg_store: Store, clock: FakeClock
) -> None:
    first = secrets.token_hex(16)
    with pg_store.sessions() as db:
        remember_nonce(db, _signed(first, clock.now()), clock.now())
    clock.advance(NONCE_MEMORY_SECONDS)
    with pg_store.sessions() as db:
        remember_nonce(db, _signed(secrets.token_hex(16), clock.now()), clock.now())
        with pytest.raises(TerminalRequestInvalid):  # still inside the window: still a replay
            remember_nonce(db, _signed(first, clock.now()), clock.now())
        kept = db.execute(text("SELECT nonce FROM terminal_nonces")).scalars().all()
        assert first in kept
    clock.advance(1)
    with pg_store.sessions() as db:
        remember_nonce(db, _signed(secrets.token_hex(16), clock.now()), clock.now())
        kept = db.execute(text("SELECT nonce FROM terminal_nonces")).scalars().all()
        assert first not in kept and len(kept) == 2


# ---- the chain event index (version 3) -------------------------------------------------------


class FakeEth:
    """eth_getLogs / eth_getBlockByNumber over a list of blocks of real PointLedger logs."""

    def __init__(self) -> None:
        self.logs: dict[int, list[dict[str, Any]]] = {}
        self.head = DEPLOYMENT.block_number

    def add_block(self, grants: Sequence[tuple[str, int]]) -> int:
        """Seal a block holding one PointsGranted log per (MyKey ID, points); return its number."""
        self.head += 1
        transaction_hash = keccak(text=f"block {self.head}")
        self.logs[self.head] = [
            {
                "address": DEPLOYMENT.ledger,
                "topics": [
                    event_topic("PointLedger", "PointsGranted"),
                    mykey_topic(mykey_id),
                    municipality_topic(KAWASAKI),
                    (0).to_bytes(32, "big"),
                ],
                "data": encode(
                    ["uint256", "uint32", "bytes32", "address", "uint64"],
                    [points, 1, keccak(text=f"{self.head}:{index}"), TERMINAL, 1_900_000_000],
                ),
                "blockNumber": self.head,
                "transactionHash": transaction_hash,
                "logIndex": index,
            }
            for index, (mykey_id, points) in enumerate(grants)
        ]
        return self.head

    def get_block(self, block: int | str) -> dict[str, int]:
        number = self.head if block in ("finalized", "latest") else int(block)
        return {"number": number, "timestamp": 1_800_000_000 + number}

    def get_logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        addresses = {address.lower() for address in query["address"]}
        return [
            log
            for number in range(int(query["fromBlock"]), int(query["toBlock"]) + 1)
            for log in self.logs.get(number, [])
            if log["address"].lower() in addresses
        ]


class FakeChain:
    """Just enough of a `Web3` for the indexer: `.eth`."""

    def __init__(self) -> None:
        self.eth = FakeEth()


class IndexerCrashed(RuntimeError):
    """Raised by a test hook inside the range's transaction, as a crash before commit would."""


def _indexer(
    chain: FakeChain,
    store: Store,
    clock: FakeClock,
    after_store: Callable[[Session, Sequence[ChainEvent]], None] | None = None,
) -> ChainIndexer:
    return ChainIndexer(
        cast(Web3, chain),
        DEPLOYMENT,
        store,
        now=clock.now,
        batch_blocks=3,
        after_store=after_store,
    )


def _fill(chain: FakeChain, blocks: int) -> list[tuple[int, int]]:
    """Add `blocks` blocks (some empty, some with two logs); return every log's position."""
    positions = []
    for _ in range(blocks):
        number = chain.eth.head + 1
        grants = [] if number % 4 == 0 else [("TANAKA01", number)] * (1 + number % 2)
        chain.eth.add_block(grants)
        positions += [(number, index) for index in range(len(grants))]
    return positions


def _stored(store: Store) -> list[tuple[int, int]]:
    with store.sessions() as db:
        rows = db.execute(
            select(ChainEvent.block_number, ChainEvent.log_index).order_by(
                ChainEvent.block_number, ChainEvent.log_index
            )
        ).all()
    return [(int(block), int(index)) for block, index in rows]


def test_indexer_resumes_after_restart_and_crash_with_no_gap_and_no_double(
    pg_store: Store, clock: FakeClock
) -> None:
    chain = FakeChain()
    expected = _fill(chain, 10)
    first = _indexer(chain, pg_store, clock)
    assert first.poll_once() == 3
    assert first.poll_once() == 3
    stopped_at = first.next_block()
    assert stopped_at == DEPLOYMENT.block_number + 6
    assert _stored(pg_store) == [p for p in expected if p[0] < stopped_at]

    # a restarted indexer whose next range dies inside its transaction: nothing of it stays
    def crash(db: Session, rows: Sequence[ChainEvent]) -> None:
        raise IndexerCrashed(f"crashed after adding {len(rows)} rows")

    with pytest.raises(IndexerCrashed):
        _indexer(chain, pg_store, clock, crash).catch_up()
    assert _indexer(chain, pg_store, clock).next_block() == stopped_at
    assert _stored(pg_store) == [p for p in expected if p[0] < stopped_at]

    # the next restart redoes that range and the rest; new blocks are picked up later
    restarted = _indexer(chain, pg_store, clock)
    assert restarted.catch_up() == chain.eth.head + 1 - stopped_at
    expected += _fill(chain, 5)
    assert restarted.catch_up() == 5
    assert _indexer(chain, pg_store, clock).catch_up() == 0
    assert _stored(pg_store) == expected
    with pg_store.sessions() as db:
        cursor = db.get(ChainCursor, "ledger")
        assert cursor is not None and cursor.next_block == chain.eth.head + 1
        amounts = dict(
            db.execute(
                select(ChainEvent.block_number, func.sum(ChainEvent.amount)).group_by(
                    ChainEvent.block_number
                )
            ).all()
        )
    assert amounts == {
        number: number * len(logs) for number, logs in chain.eth.logs.items() if logs
    }


def test_two_indexers_racing_over_the_same_blocks_store_each_event_once(
    pg_store: Store, clock: FakeClock
) -> None:
    chain = FakeChain()
    expected = _fill(chain, 4)
    _indexer(chain, pg_store, clock).poll_once()  # the cursor row exists from here on
    expected += _fill(chain, 30)
    # Separate instances, so separate in-process locks: as two API processes on one database.
    indexers = [_indexer(chain, pg_store, clock) for _ in range(RACERS)]

    results = race(RACERS, lambda index: indexers[index].catch_up())

    assert not [r for r in results if isinstance(r, Exception)], results
    assert _stored(pg_store) == expected
    with pg_store.sessions() as db:
        cursor = db.get(ChainCursor, "ledger")
        assert cursor is not None and cursor.next_block == chain.eth.head + 1


# ---- audit records and service links ----------------------------------------------------------


def test_audit_records_keep_japanese_detail_and_list_newest_first(
    pg_store: Store, clock: FakeClock
) -> None:
    staff = Actor(ActorKind.STAFF, "kawasaki.staff")
    with pg_store.sessions() as db:
        for index in range(5):
            record_audit(
                db=db,
                at=clock.now() + index,
                actor=staff,
                action="grant",
                target="TANAKA01",
                transaction_hash="0x" + f"{index:02x}" * 32,
                detail={"activity": "清掃ボランティア", "points": 100 * index, "batch": None},
            )
        record_audit(db=db, at=clock.now(), actor=SYSTEM_ACTOR, action="other", target="x")
        db.commit()
    with pg_store.sessions() as db:
        newest = list_audit_records(db=db, limit=3, action="grant")
        older = list_audit_records(db=db, limit=10, before_id=newest[-1].id, action="grant")
    assert [r.transaction_hash[-2:] for r in newest] == ["04", "03", "02"]  # type: ignore[index]
    assert [r.transaction_hash[-2:] for r in older] == ["01", "00"]  # type: ignore[index]
    assert '"activity": "清掃ボランティア"' in newest[0].detail
    assert (newest[0].actor_kind, newest[0].actor) == ("staff", "kawasaki.staff")


def test_service_ids_are_stored_only_as_ciphertext(
    pg_client: TestClient, pg_store: Store, pg_settings: ApiSettings
) -> None:
    register_resident(pg_client, "TANAKA01", certificate=b"card-1")
    register_resident(pg_client, "SUZUKI02", certificate=b"card-2")
    cipher = ServiceIdCipher(load_or_create_key(pg_settings.service_id_key_file))
    with pg_store.sessions() as db:
        tanaka, suzuki = db.scalars(select(Account).order_by(Account.id)).all()
        link_service(
            db=db,
            cipher=cipher,
            actor=SYSTEM_ACTOR,
            account=tanaka,
            service_code="kawasaki-library",
            service_id="LIB-0042-7781",
            now=0,
        )
        db.commit()
    with pg_store.sessions() as db:
        assert (
            lookup_service_id(db=db, cipher=cipher, account=tanaka, service_code="kawasaki-library")
            == "LIB-0042-7781"
        )
        assert (
            lookup_service_id(db=db, cipher=cipher, account=suzuki, service_code="kawasaki-library")
            is None
        )
        stored = db.scalars(select(ServiceLink)).one()
        assert b"LIB-0042" not in stored.service_id_ciphertext
        dumped = db.execute(text("SELECT CAST(service_links AS text) FROM service_links")).scalar()
        everything = db.execute(
            text("SELECT string_agg(CAST(audit_log AS text), ' ') FROM audit_log")
        ).scalar()
    # bytea columns print as hex: look for the number in clear text and as hex bytes
    assert dumped is not None and "LIB-0042" not in dumped
    assert b"LIB-0042".hex() not in dumped
    assert everything is not None and "LIB-0042" not in everything


def test_two_indexers_starting_on_an_empty_index_store_each_event_once(
    pg_store: Store, clock: FakeClock
) -> None:
    """Before the cursor row exists FOR UPDATE has nothing to lock: the first run may race."""
    chain = FakeChain()
    expected = _fill(chain, 12)
    indexers = [_indexer(chain, pg_store, clock) for _ in range(RACERS)]

    results = race(RACERS, lambda index: indexers[index].catch_up())

    assert not [r for r in results if isinstance(r, Exception)], results
    assert _stored(pg_store) == expected


# ---- card bindings (version 3) -----------------------------------------------------------------

BINDING_SECRET = b"test platform binding secret, 32+ bytes long"


@pytest.fixture(scope="module")
def authority() -> TestAuthority:
    return TestAuthority.create(datetime.now(UTC))


def _card(authority: TestAuthority, at: datetime | None = None) -> AuthenticatedCard:
    moment = at or datetime.now(UTC)
    return AuthenticatedCard(
        issue_card(authority, moment).auth_certificate, Purpose.AUTHENTICATION, moment
    )


def test_bindings_rebind_on_postgres_and_racing_renewals_move_the_id_once(
    pg_store: Store, authority: TestAuthority
) -> None:
    service = BindingService(SqlBindingStore(pg_store), BINDING_SECRET)
    old = _card(authority)
    service.bind(old, MykeyId("TANAKA01"))
    with pytest.raises(CardAlreadyBound):
        service.bind(old, MykeyId("SUZUKI02"))
    with pytest.raises(MykeyIdAlreadyBound):
        service.bind(_card(authority), MykeyId("TANAKA01"))
    previous = AuthenticatedCard(
        old.certificate, Purpose.PROVE_PREVIOUS_BINDING, old.authenticated_at
    )
    renewed = [_card(authority, datetime.now(UTC) + timedelta(days=1)) for _ in range(RACERS)]

    results = race(
        RACERS, lambda index: service.rebind_with_previous_card(previous, renewed[index])
    )

    moved = [index for index, result in enumerate(results) if isinstance(result, Binding)]
    assert len(moved) == 1, results
    assert all(isinstance(r, CardNotBound) for r in results if not isinstance(r, Binding))
    assert service.identify(renewed[moved[0]]) == "TANAKA01"
    with pytest.raises(CardNotBound):
        service.identify(old)


def test_racing_first_binds_of_one_card_bind_it_once(
    pg_store: Store, authority: TestAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = BindingService(SqlBindingStore(pg_store), BINDING_SECRET)
    card = _card(authority)
    # Widen the race window deterministically: each bind waits (briefly) after its checks until
    # the other has checked too. A store that serialises binds just runs past the timeout.
    both_checked = threading.Barrier(2)
    original = bindings_module._active_mykey

    def checked_then_wait(db: Session, mykey_id: str) -> CardBinding | None:
        found = original(db, mykey_id)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait(timeout=2)
        return found

    monkeypatch.setattr(bindings_module, "_active_mykey", checked_then_wait)

    results = race(2, lambda index: service.bind(card, MykeyId(f"RACER{index:03d}")))

    bound = [r for r in results if isinstance(r, Binding)]
    assert len(bound) == 1, results
    with pg_store.sessions() as db:
        active = db.scalar(
            select(func.count()).select_from(CardBinding).where(CardBinding.retired_at.is_(None))
        )
    assert active == 1
