"""The private store on a real PostgreSQL server: migrations, registration, lock-out, the
one-winner race and the outbox claim behave as on SQLite."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from api.app import create_app
from api.identifiers import MykeyId
from api.notices.sender import OutboxSender, SmtpTarget
from api.settings import ApiSettings
from api.store.database import Store, create_store_engine, open_store
from api.store.migrations import latest_version, migrate
from api.store.models import Account, Base, OutboxMessage
from tests.api.conftest import (
    FakeCardVerifier,
    FakeClock,
    FakeLedger,
    FakePointsLedger,
    SequenceGenerator,
    completion_form,
    login,
    open_registration,
    register_resident,
)
from tests.api.postgres_server import PostgresServer
from tests.api.smtp_server import SmtpServer

pytestmark = pytest.mark.realstack


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_settings(settings: ApiSettings, postgres: PostgresServer) -> ApiSettings:
    return dataclasses.replace(settings, database_url=postgres.new_database())


@pytest.fixture
def pg_client(
    pg_settings: ApiSettings, clock: FakeClock, ledger: FakeLedger
) -> Iterator[TestClient]:
    app = create_app(
        pg_settings,
        ledger=ledger,
        points=FakePointsLedger(registry=ledger),
        cards=FakeCardVerifier(),
        clock=clock,
        generate_candidate=SequenceGenerator(),
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_migrations_build_the_mapped_schema(postgres: PostgresServer) -> None:
    engine = create_store_engine(postgres.new_database())
    assert migrate(engine) == list(range(1, latest_version() + 1))
    assert migrate(engine) == []
    inspector = inspect(engine)
    for name, table in Base.metadata.tables.items():
        columns = {column["name"]: column for column in inspector.get_columns(name)}
        assert set(columns) == {column.name for column in table.columns}, name
    engine.dispose()


def test_registration_login_and_lock_out(pg_client: TestClient, clock: FakeClock) -> None:
    register_resident(pg_client, "TANAKA01")
    token = login(pg_client)
    me = pg_client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["mykey_id"] == "TANAKA01"
    statuses = [
        pg_client.post(
            "/sessions", json={"mykey_id": "TANAKA01", "password": "Wrong123"}
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 423]
    clock.advance(30 * 60)
    login(pg_client)


def test_outbox_claims_and_sends_on_postgres(
    pg_client: TestClient, pg_settings: ApiSettings, clock: FakeClock
) -> None:
    register_resident(pg_client, "TANAKA01")
    store: Store = open_store(pg_settings.database_url)
    server = SmtpServer().start()
    try:
        target = SmtpTarget(host="127.0.0.1", port=server.port, mail_from="noreply@mykey.test")
        first, second = (
            OutboxSender(sessions=store.sessions, target=target, clock=clock, owner=owner)
            for owner in ("a", "b")
        )
        assert len(first.claim()) == 1
        assert second.claim() == []
        clock.advance(61)
        assert second.run_once().sent == 1
        assert list(server.handler.message_ids().values()) == [1]
        with store.sessions() as db:
            assert db.scalars(select(OutboxMessage.state)).all() == ["sent"]
            assert db.scalars(select(Account.mykey_id)).all() == ["TANAKA01"]
    finally:
        server.stop()
        store.close()


def test_two_registrations_racing_for_one_id_on_postgres(
    pg_client: TestClient, ledger: FakeLedger
) -> None:
    first = open_registration(pg_client, b"card-one")
    second = open_registration(pg_client, b"card-two")
    for registration_id in (first, second):
        checked = pg_client.post(
            f"/registrations/{registration_id}/candidate-checks", json={"candidate": "TANAKA01"}
        )
        assert checked.status_code == 200
    barrier = threading.Barrier(2, timeout=10)
    original = ledger.is_mykey_id_taken

    def taken_after_both_checked(mykey_id: MykeyId) -> bool:
        answer = original(mykey_id)
        barrier.wait()
        return answer

    ledger.is_mykey_id_taken = taken_after_both_checked  # type: ignore[method-assign]
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(
            pool.map(
                lambda registration_id: (
                    pg_client.post(
                        f"/registrations/{registration_id}/completion", json=completion_form()
                    ).status_code
                ),
                [first, second],
            )
        )
    assert statuses == [201, 409]
    assert ledger.registered == [("TANAKA01", "14130")]
