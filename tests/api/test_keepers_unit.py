"""The keepers against a fake ledger, a fake clock and a real SQLite store (index rows by hand).

What is proved: the reserve keeper sweeps while the contract says work is due, bounded, and a
second run sends nothing; the expiry keeper finds due accounts from the index (credits'
`expiresAt` against PointsExpired and its own sweep marks), oldest first, bounded, and goes on
past a refusal; an outage stops a run and is reported; one lease holder at a time; each run is
stored and shown at /operator/keepers to operators only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.chain.errors import LedgerRefused
from api.chain.ledger import ExpirySwept
from api.errors import LedgerUnavailable
from api.keepers import expiry, reserves
from api.keepers.leases import acquire_lease, keeper_statuses, release_lease
from api.keepers.runner import KeeperRunner
from api.messages import Message
from api.passwords import PasswordService
from api.ports import TransactionHash
from api.services.audit import SYSTEM_ACTOR
from api.services.staff import create_staff_account
from api.store.database import Store
from api.store.models import ChainEvent
from tests.api.conftest import FAST_HASHING, FakeClock

DAY = 86_400
CHAIN_START = 1_800_000_000
KAWASAKI = 14130
TOSHIMA = 13116


@dataclass
class FakeKeeperLedger:
    """A ledger with per-municipality due reserves and per-account expired points."""

    chain_time: int = CHAIN_START
    due_reserves: dict[int, int] = field(default_factory=dict)
    expired_points: dict[tuple[str, int, int], int] = field(default_factory=dict)
    refuse_municipalities: set[int] = field(default_factory=set)
    refuse_mykey_ids: set[str] = field(default_factory=set)
    down: bool = False
    reserve_sweeps: list[int] = field(default_factory=list)
    expiry_sweeps: list[tuple[str, int, int]] = field(default_factory=list)

    def _check_up(self) -> None:
        if self.down:
            raise LedgerUnavailable(Message("台帳に接続できません。", "The ledger is down."))

    def municipalities(self) -> list[int]:
        self._check_up()
        return sorted({KAWASAKI, TOSHIMA} | set(self.due_reserves))

    def block_time(self) -> int:
        self._check_up()
        return self.chain_time

    def reserves_due(self, municipality: int) -> bool:
        self._check_up()
        return self.due_reserves.get(municipality, 0) > 0

    def sweep_reserves(self, municipality: int, max_steps: int) -> int:
        self._check_up()
        if municipality in self.refuse_municipalities:
            raise LedgerRefused(Message("拒否", f"municipality {municipality} paused"))
        self.reserve_sweeps.append(municipality)
        homed = min(max_steps, self.due_reserves.get(municipality, 0))
        self.due_reserves[municipality] -= homed
        return homed

    def sweep_expired(self, mykey_id: str, municipality: int, account: int) -> ExpirySwept:
        self._check_up()
        if mykey_id in self.refuse_mykey_ids:
            raise LedgerRefused(Message("拒否", f"{mykey_id} refused"))
        self.expiry_sweeps.append((mykey_id, municipality, account))
        points = self.expired_points.pop((mykey_id, municipality, account), 0)
        return ExpirySwept(
            transaction_hash=TransactionHash("0x" + "ab" * 32),
            block_number=len(self.expiry_sweeps),
            block_timestamp=self.chain_time,
            expired_points=points,
            expired_lots=1 if points else 0,
            reserves_homed=0,
        )


class EventLog:
    """Writes index rows as the indexer would, one block per event."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.block = 0

    def add(self, name: str, mykey_id: str, municipality: int, timestamp: int, **args: Any) -> None:
        self.block += 1
        full = {"mykeyId": mykey_id, "municipality": municipality} | args
        with self.store.sessions() as db, db.begin():
            db.add(
                ChainEvent(
                    block_number=self.block,
                    log_index=0,
                    block_timestamp=timestamp,
                    transaction_hash="0x" + f"{self.block:064x}",
                    contract="PointLedger",
                    name=name,
                    mykey_id=mykey_id,
                    municipality=municipality,
                    counterparty=None,
                    amount=args.get("amount"),
                    period=None,
                    args_json=json.dumps(full, sort_keys=True),
                )
            )

    def grant(self, mykey_id: str, expires_at: int, *, amount: int = 100, account: int = 0) -> None:
        self.add(
            "PointsGranted",
            mykey_id,
            KAWASAKI,
            expires_at - 365 * DAY,
            account=account,
            amount=amount,
            expiresAt=expires_at,
        )


@pytest.fixture
def index(store: Store) -> EventLog:
    return EventLog(store)


@pytest.fixture
def fake() -> FakeKeeperLedger:
    return FakeKeeperLedger()


# ---- reserve keeper ---------------------------------------------------------------------------


def test_reserve_keeper_sweeps_while_due_and_then_sends_nothing(fake: FakeKeeperLedger) -> None:
    fake.due_reserves = {KAWASAKI: 100, TOSHIMA: 3}

    first = reserves.run_reserve_keeper(fake)
    second = reserves.run_reserve_keeper(fake)

    assert first.swept == 103
    assert first.transactions == 3  # 64 + 36 in Kawasaki, 3 in Toshima
    assert (first.backlog, first.error, first.refused) == (0, None, [])
    assert fake.due_reserves == {KAWASAKI: 0, TOSHIMA: 0}
    assert (second.swept, second.transactions) == (0, 0)
    assert len(fake.reserve_sweeps) == 3


def test_reserve_keeper_is_bounded_and_reports_the_backlog(fake: FakeKeeperLedger) -> None:
    fake.due_reserves = {KAWASAKI: 64 * 5}

    run = reserves.run_reserve_keeper(fake, max_transactions=2)

    assert (run.swept, run.transactions, run.backlog) == (128, 2, 1)
    assert fake.due_reserves[KAWASAKI] == 64 * 3


def test_a_refused_municipality_does_not_stop_the_others(fake: FakeKeeperLedger) -> None:
    fake.due_reserves = {KAWASAKI: 5, TOSHIMA: 2}
    fake.refuse_municipalities = {TOSHIMA}

    run = reserves.run_reserve_keeper(fake)

    assert run.swept == 5
    assert len(run.refused) == 1
    assert "13116" in run.refused[0]
    assert run.error is None


def test_an_unreachable_ledger_stops_the_reserve_run_with_its_reason(
    fake: FakeKeeperLedger,
) -> None:
    fake.down = True

    run = reserves.run_reserve_keeper(fake)

    assert run.error == "The ledger is down."
    assert run.swept == 0


def test_next_reserve_deadline_skips_settled_and_past_reserves(
    index: EventLog, store: Store
) -> None:
    now = CHAIN_START
    index.add("PointsConverted", "AAAA0001", KAWASAKI, now, reserveId=1, deadline=now - 5)
    index.add("PointsConverted", "AAAA0001", KAWASAKI, now, reserveId=2, deadline=now + 50)
    index.add("PointsConverted", "AAAA0002", KAWASAKI, now, reserveId=3, deadline=now + 9)
    index.add("ReservePlaced", "AAAA0002", KAWASAKI, now, reserveId=3, expiresAt=now + DAY)

    with store.sessions() as db:
        assert reserves.next_reserve_deadline(db, after=now) == now + 50


# ---- expiry keeper ----------------------------------------------------------------------------


def test_expiry_keeper_sweeps_due_accounts_oldest_first(
    fake: FakeKeeperLedger, index: EventLog, store: Store
) -> None:
    now = CHAIN_START
    index.grant("NEWER001", now - 10)
    index.grant("OLDEST01", now - 1000)
    index.grant("FUTURE01", now + 500)
    index.grant("MIDDLE01", now - 100, account=7)
    fake.expired_points = {("OLDEST01", KAWASAKI, 0): 100, ("MIDDLE01", KAWASAKI, 7): 100}

    run = expiry.run_expiry_keeper(fake, store)

    assert fake.expiry_sweeps == [
        ("OLDEST01", KAWASAKI, 0),
        ("MIDDLE01", KAWASAKI, 7),
        ("NEWER001", KAWASAKI, 0),  # spent before expiry: swept once, records nothing
    ]
    assert (run.swept, run.expired_points, run.backlog) == (3, 200, 0)
    assert run.next_due_at == now + 500


def test_a_swept_account_is_not_swept_again_until_a_later_lot_expires(
    fake: FakeKeeperLedger, index: EventLog, store: Store
) -> None:
    now = CHAIN_START
    index.grant("RESIDENT", now - 10)
    index.grant("RESIDENT", now + 100)
    expiry.run_expiry_keeper(fake, store)

    again = expiry.run_expiry_keeper(fake, store)
    fake.chain_time += 100
    later = expiry.run_expiry_keeper(fake, store)

    assert again.swept == 0
    assert later.swept == 1
    assert fake.expiry_sweeps == [("RESIDENT", KAWASAKI, 0)] * 2


def test_an_indexed_points_expired_marks_the_account_clean(
    fake: FakeKeeperLedger, index: EventLog, store: Store
) -> None:
    now = CHAIN_START
    index.grant("RESIDENT", now - 50)
    # The resident's own redemption pruned the lot (PointsExpired at that block's time).
    index.add("PointsExpired", "RESIDENT", KAWASAKI, now - 20, account=0, amount=100)

    run = expiry.run_expiry_keeper(fake, store)

    assert run.swept == 0
    assert fake.expiry_sweeps == []


def test_the_expiry_run_is_bounded_and_leaves_the_newest_for_later(
    fake: FakeKeeperLedger, index: EventLog, store: Store
) -> None:
    now = CHAIN_START
    for number in range(5):
        index.grant(f"RES{number:05d}", now - 100 + number)

    first = expiry.run_expiry_keeper(fake, store, limit=3)
    second = expiry.run_expiry_keeper(fake, store, limit=3)

    assert (first.swept, first.backlog) == (3, 2)
    assert (second.swept, second.backlog) == (2, 0)
    assert [sweep[0] for sweep in fake.expiry_sweeps] == [f"RES{n:05d}" for n in range(5)]


def test_a_stop_request_ends_the_run_between_sweeps(
    fake: FakeKeeperLedger, index: EventLog, store: Store
) -> None:
    for number in range(4):
        index.grant(f"RES{number:05d}", CHAIN_START - 100 + number)

    run = expiry.run_expiry_keeper(fake, store, should_stop=lambda: len(fake.expiry_sweeps) == 2)

    assert (run.swept, run.backlog, run.error) == (2, 2, None)
    assert len(expiry.scan_expiry(store, now=CHAIN_START).due) == 2


def test_a_refusal_for_one_resident_does_not_stop_the_others(
    fake: FakeKeeperLedger, index: EventLog, store: Store
) -> None:
    now = CHAIN_START
    index.grant("REFUSED1", now - 100)
    index.grant("ACCEPTED", now - 50)
    fake.refuse_mykey_ids = {"REFUSED1"}

    run = expiry.run_expiry_keeper(fake, store)
    retry = expiry.scan_expiry(store, now=now)

    assert run.swept == 1
    assert run.refused == ["REFUSED1/14130/0: REFUSED1 refused"]
    assert [item.mykey_id for item in retry.due] == ["REFUSED1"]  # tried again next run


def test_an_outage_stops_the_expiry_run_and_keeps_the_rest_due(
    fake: FakeKeeperLedger, index: EventLog, store: Store
) -> None:
    index.grant("RESIDENT", CHAIN_START - 100)
    index.grant("RESIDEN2", CHAIN_START - 50)
    original = fake.sweep_expired

    def fail_second(mykey_id: str, municipality: int, account: int) -> ExpirySwept:
        if fake.expiry_sweeps:
            fake.down = True
        return original(mykey_id, municipality, account)

    fake.sweep_expired = fail_second  # type: ignore[method-assign]

    run = expiry.run_expiry_keeper(fake, store)

    assert run.swept == 1
    assert run.error is not None
    assert "The ledger is down." in run.error
    assert run.backlog == 1
    assert [item.mykey_id for item in expiry.scan_expiry(store, now=CHAIN_START).due] == [
        "RESIDEN2"
    ]


# ---- leases and the runner --------------------------------------------------------------------


def test_only_one_owner_holds_a_lease_until_it_expires_or_is_released(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    assert acquire_lease(store, "expiry", owner="a", now=now, seconds=60)
    assert not acquire_lease(store, "expiry", owner="b", now=now + 59, seconds=60)
    assert acquire_lease(store, "expiry", owner="a", now=now + 59, seconds=60)  # renewal
    assert acquire_lease(store, "expiry", owner="b", now=now + 119, seconds=60)  # ran out
    release_lease(store, "expiry", owner="a", now=now + 120)  # not a's any more: no effect
    assert not acquire_lease(store, "expiry", owner="c", now=now + 120, seconds=60)
    release_lease(store, "expiry", owner="b", now=now + 121)
    assert acquire_lease(store, "expiry", owner="c", now=now + 121, seconds=60)


def test_the_runner_skips_a_keeper_whose_lease_another_process_holds(
    fake: FakeKeeperLedger, store: Store, clock: FakeClock
) -> None:
    fake.due_reserves = {KAWASAKI: 2}
    assert acquire_lease(store, "reserves", owner="elsewhere", now=clock.now(), seconds=600)
    runner = KeeperRunner(fake, store, clock, owner="here")

    report = runner.run_once()

    assert report.held_elsewhere == ["reserves"]
    assert [run.keeper for run in report.runs] == ["expiry"]
    assert fake.reserve_sweeps == []


def _staff_token(client: TestClient, store: Store, clock: FakeClock, role: str) -> str:
    with store.sessions() as db:
        create_staff_account(
            db=db,
            passwords=PasswordService(FAST_HASHING),
            actor=SYSTEM_ACTOR,
            login_name=f"{role}.one",
            password="staff passphrase 1",
            role=role,
            organisation="14130" if role == "municipal-staff" else None,
            now=clock.now(),
        )
    response = client.post(
        "/staff/sessions", json={"login_name": f"{role}.one", "password": "staff passphrase 1"}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def test_operator_route_shows_each_keepers_last_run(
    client: TestClient,
    store: Store,
    clock: FakeClock,
    fake: FakeKeeperLedger,
    index: EventLog,
) -> None:
    operator_token = _staff_token(client, store, clock, "node-operator")
    fake.due_reserves = {KAWASAKI: 3}
    index.grant("RESIDENT", CHAIN_START - 100)
    index.grant("RESIDENT", CHAIN_START + 7 * DAY)
    fake.expired_points = {("RESIDENT", KAWASAKI, 0): 100}
    fake.refuse_municipalities = {TOSHIMA}
    fake.due_reserves[TOSHIMA] = 1
    KeeperRunner(fake, store, clock, owner="unit").run_once()

    response = client.get(
        "/operator/keepers", headers={"Authorization": f"Bearer {operator_token}"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["runs_in_this_process"] is False
    shown = {item["name"]: item for item in body["keepers"]}
    assert shown["reserves"]["swept"] == 3
    assert len(shown["reserves"]["refused"]) == 1
    assert shown["expiry"]["swept"] == 1
    assert shown["expiry"]["expired_points"] == 100
    assert shown["expiry"]["next_due_at"] == CHAIN_START + 7 * DAY
    assert shown["expiry"]["last_finished_at"] == clock.now()
    assert shown["expiry"]["last_error"] is None
    with store.sessions() as db:
        assert [status.name for status in keeper_statuses(db)] == ["expiry", "reserves"]


def test_operator_route_refuses_other_roles_and_strangers(
    client: TestClient, store: Store, clock: FakeClock
) -> None:
    staff = _staff_token(client, store, clock, "municipal-staff")

    forbidden = client.get("/operator/keepers", headers={"Authorization": f"Bearer {staff}"})
    anonymous = client.get("/operator/keepers")

    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("application/problem+json")
    assert anonymous.status_code == 401


def test_a_failing_run_is_recorded_with_its_error(
    fake: FakeKeeperLedger, store: Store, clock: FakeClock
) -> None:
    fake.down = True

    report = KeeperRunner(fake, store, clock, owner="unit").run_once()

    assert [run.error for run in report.runs] == ["The ledger is down."] * 2
    with store.sessions() as db:
        errors = {status.name: status.last_error for status in keeper_statuses(db)}
    assert errors == {"reserves": "The ledger is down.", "expiry": "The ledger is down."}


def test_a_store_failure_is_reported_not_raised(
    fake: FakeKeeperLedger, store: Store, clock: FakeClock
) -> None:
    runner = KeeperRunner(fake, store, clock, owner="unit")
    store.engine.dispose()
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE keeper_leases")

    report = runner.run_once()

    assert [run.keeper for run in report.runs] == ["reserves", "expiry"]
    assert all(run.error and "keeper_leases" in run.error for run in report.runs)
