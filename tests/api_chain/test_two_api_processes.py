"""Two `mykey api serve` processes on one PostgreSQL store and one keystore, as two workers.

Both sign with the same platform and municipality keys, so without shared nonces they would
sign two transactions with one nonce. Residents register through both, then staff grants go
through both at once: every grant is answered 201 with its own final transaction, every
transaction's nonce is distinct, and the shared index holds each grant's event exactly once.
Only one process follows the chain at a time (the `indexer` lease row names one process
throughout); when that process stops, the other takes the lease over and indexes what follows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api.cli import READY_PREFIX
from api.indexer.follower import FOLLOWER_LEASE
from api.passwords import PasswordService
from api.services.audit import SYSTEM_ACTOR
from api.services.staff import create_staff_account
from api.store.database import Store, open_store
from api.store.models import ChainEvent, KeeperLease
from bench.api_split import Child, ChildFailed, start_child
from tests.api.postgres_server import PostgresServer
from tests.api_chain.conftest import FAST_HASHING, KAWASAKI, STAFF_PASSWORD, ChainWorld, new_card
from tests.api_chain.conftest import register as register_resident
from tests.api_chain.test_serve_process import SERVE, ServeFiles, serve_files  # noqa: F401

pytestmark = pytest.mark.realstack

STAFF_LOGIN = "two.process.staff"
GRANTS_EACH = 6
"""Grants sent through each process at once (12 in all, racing for the same two keys)."""
TAKEOVER_SECONDS = 20.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_store_url(postgres: PostgresServer, world: ChainWorld) -> str:
    url = postgres.new_database()
    store = open_store(url)
    try:
        with store.sessions() as db:
            create_staff_account(
                db=db,
                passwords=PasswordService(FAST_HASHING),
                actor=SYSTEM_ACTOR,
                login_name=STAFF_LOGIN,
                password=STAFF_PASSWORD,
                role="municipal-staff",
                organisation=str(KAWASAKI),
                now=int(world.w3.eth.get_block("latest")["timestamp"]),
            )
    finally:
        store.close()
    return url


def _start(name: str, files: ServeFiles, url: str, logs: Path) -> Child:
    log = logs / f"{name}.log"
    environment = files.environment | {"MYKEY_API_DATABASE_URL": url}
    try:
        return start_child(
            name, [*SERVE, "--data-dir", str(files.data_dir)], READY_PREFIX, log, environment
        )
    except ChildFailed:
        pytest.fail(log.read_text(encoding="utf-8")[-3000:])


def _lease(store: Store) -> KeeperLease | None:
    with store.sessions() as db:
        return db.get(KeeperLease, FOLLOWER_LEASE)


def _holder_pid(store: Store) -> int | None:
    row = _lease(store)
    if row is None or row.owner is None or row.expires_at <= int(time.time()):
        return None
    return int(row.owner.split(":")[1])


def _wait_for(condition: str, check: object, seconds: float = TAKEOVER_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {condition}")
        time.sleep(0.2)


def _staff_token(http: httpx.Client) -> str:
    session = http.post(
        "/staff/sessions", json={"login_name": STAFF_LOGIN, "password": STAFF_PASSWORD}
    )
    assert session.status_code == 201, session.text
    token: str = session.json()["token"]
    return token


def _granted_hashes(store: Store, mykey_ids: set[str]) -> list[str]:
    with store.sessions() as db:
        rows = db.scalars(
            select(ChainEvent).where(
                ChainEvent.name == "PointsGranted", ChainEvent.mykey_id.in_(mykey_ids)
            )
        )
        return [row.transaction_hash for row in rows]


def test_two_processes_share_nonces_and_one_follower(
    world: ChainWorld,
    serve_files: ServeFiles,  # noqa: F811
    shared_store_url: str,
    tmp_path: Path,
) -> None:
    first = _start("api-1", serve_files, shared_store_url, tmp_path)
    second: Child | None = None
    store = open_store(shared_store_url, run_migrations=False)
    try:
        second = _start("api-2", serve_files, shared_store_url, tmp_path)
        pids = {first.process.pid, second.process.pid}
        clients = [httpx.Client(base_url=child.ready, timeout=60) for child in (first, second)]
        try:
            _wait_for("one process to take the indexer lease", lambda: _holder_pid(store) in pids)
            holder = _holder_pid(store)

            # Registrations (platform key) and grants (municipality key) through both at once.
            with ThreadPoolExecutor(2) as pool:
                mykey_ids = list(
                    pool.map(lambda http: register_resident(http, new_card(world)), clients)
                )
            tokens = [_staff_token(http) for http in clients]

            def grant(index: int) -> httpx.Response:
                which = index % 2
                return clients[which].post(
                    "/grants",
                    json={
                        "mykey_id": mykey_ids[which],
                        "points": 10 + index,
                        "activity": "volunteering",
                    },
                    headers={
                        "Authorization": f"Bearer {tokens[which]}",
                        "Idempotency-Key": f"two-process-{index}",
                    },
                )

            holders: set[int | None] = set()
            with ThreadPoolExecutor(2 * GRANTS_EACH) as pool:
                futures = [pool.submit(grant, index) for index in range(2 * GRANTS_EACH)]
                while not all(future.done() for future in futures):
                    holders.add(_holder_pid(store))  # sampled while both processes work
                    time.sleep(0.1)
                answers = [future.result() for future in futures]
            assert holders == {holder}, "the follower must stay in one process"

            assert all(answer.status_code == 201 for answer in answers), [
                answer.text for answer in answers if answer.status_code != 201
            ]
            hashes = [answer.json()["transaction_hash"] for answer in answers]
            assert len(set(hashes)) == len(hashes)
            nonces = [int(world.w3.eth.get_transaction(h)["nonce"]) for h in hashes]
            assert len(set(nonces)) == len(nonces)
            assert all(world.w3.eth.get_transaction_receipt(h)["status"] == 1 for h in hashes)
            _wait_for(
                "the follower to index every grant",
                lambda: sorted(_granted_hashes(store, set(mykey_ids))) == sorted(hashes),
            )

            # The holder stops: the other process takes the lease over and follows on.
            stopping, staying = (first, second) if holder == first.process.pid else (second, first)
            stopping.stop()
            _wait_for(
                "the other process to take the indexer lease over",
                lambda: _holder_pid(store) == staying.process.pid,
            )
            survivor = clients[0 if staying is first else 1]
            index = 0 if staying is first else 1
            last = survivor.post(
                "/grants",
                json={"mykey_id": mykey_ids[index], "points": 5, "activity": "volunteering"},
                headers={"Authorization": f"Bearer {tokens[index]}"},
            )
            assert last.status_code == 201, last.text
            _wait_for(
                "the new follower to index the last grant",
                lambda: last.json()["transaction_hash"] in _granted_hashes(store, set(mykey_ids)),
            )
            assert sorted(_granted_hashes(store, set(mykey_ids))) == sorted(
                [*hashes, last.json()["transaction_hash"]]
            )
        finally:
            for http in clients:
                http.close()
    finally:
        store.close()
        first.stop()
        if second is not None:
            second.stop()
