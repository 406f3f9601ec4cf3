"""The keepers' lease on a real PostgreSQL server (and SQLite), with real threads racing.

Proved: when many processes' runners race for one keeper's lease at the same moment (first
use, when the row does not exist yet, and again once it has run out), exactly one gets it; the
expiry keeper's sweep marks and run records work on PostgreSQL as on SQLite.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.keepers.expiry import DueAccount, mark_swept, scan_expiry
from api.keepers.leases import acquire_lease, keeper_statuses, record_run
from api.settings import ApiSettings
from api.store.database import Store, open_store
from tests.api.postgres_server import PostgresServer

RACERS = 8
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, settings: ApiSettings) -> Iterator[Store]:
    url = settings.database_url
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = dataclasses.replace(settings, database_url=server.new_database()).database_url
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(url)
    assert store.engine.dialect.name == request.param
    yield store
    store.close()


def _race(store: Store, now: int) -> list[str]:
    """RACERS owners try to take the `expiry` lease at `now` at once; return the winners."""
    start = threading.Barrier(RACERS)

    def attempt(owner: str) -> str | None:
        start.wait()
        return owner if acquire_lease(store, "expiry", owner=owner, now=now, seconds=60) else None

    with ThreadPoolExecutor(RACERS) as pool:
        results = list(pool.map(attempt, [f"process-{n}" for n in range(RACERS)]))
    return [owner for owner in results if owner is not None]


def test_exactly_one_racing_process_gets_the_lease(any_store: Store) -> None:
    first = _race(any_store, NOW)  # the row does not exist yet
    while_held = _race(any_store, NOW + 30)
    after_expiry = _race(any_store, NOW + 61)

    assert len(first) == 1
    assert while_held == first  # only the holder renews
    assert len(after_expiry) == 1


def test_sweep_marks_and_run_records_on_each_database(any_store: Store) -> None:
    account = DueAccount("RESIDENT", 14130, 0, NOW - 10)
    mark_swept(any_store, account, NOW)
    mark_swept(any_store, account, NOW - 100)  # never moves back
    assert acquire_lease(any_store, "expiry", owner="unit", now=NOW, seconds=60)
    record_run(
        any_store,
        "expiry",
        started_at=NOW,
        finished_at=NOW + 1,
        report={"swept": 1, "refused": ["日本語 kept"]},
        error=None,
        next_due_at=NOW + 99,
    )

    with any_store.sessions() as db:
        (status,) = keeper_statuses(db)
    assert status.last_report == {"swept": 1, "refused": ["日本語 kept"]}
    assert status.next_due_at == NOW + 99
    assert scan_expiry(any_store, now=NOW).due == []
