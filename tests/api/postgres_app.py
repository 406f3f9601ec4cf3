"""The API on a real PostgreSQL database, for the tests that repeat a SQLite test on PostgreSQL.

`api_on_postgres` starts a PostgreSQL server (tests/api/postgres_server.py), makes a fresh
database, builds the app on it with the usual fakes for the ledger and the card, and yields the
client, the settings pointing at that database and a store opened on it.
Invariants: the store is closed and the server stopped on the way out, also when the test fails;
nothing is shared with the SQLite fixtures except the settings' other values and the fakes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.store.database import Store, open_store
from tests.api.conftest import (
    FakeCardVerifier,
    FakeClock,
    FakeLedger,
    FakePointsLedger,
    SequenceGenerator,
)
from tests.api.postgres_server import PostgresServer


@dataclass(frozen=True)
class PostgresApp:
    """The app's client, its settings and a store, all on one PostgreSQL database."""

    client: TestClient
    settings: ApiSettings
    store: Store


@contextmanager
def api_on_postgres(
    settings: ApiSettings, clock: FakeClock, ledger: FakeLedger
) -> Iterator[PostgresApp]:
    """Yield the app on a new PostgreSQL database, built like the SQLite `client` fixture."""
    server = PostgresServer().start()
    try:
        pg_settings = dataclasses.replace(settings, database_url=server.new_database())
        app = create_app(
            pg_settings,
            ledger=ledger,
            points=FakePointsLedger(registry=ledger),
            cards=FakeCardVerifier(),
            clock=clock,
            generate_candidate=SequenceGenerator(),
        )
        with TestClient(app, raise_server_exceptions=False) as client:
            store = open_store(pg_settings.database_url)
            try:
                yield PostgresApp(client, pg_settings, store)
            finally:
                store.close()
    finally:
        server.stop()
