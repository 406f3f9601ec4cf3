"""A grant through the API lands on-chain, and the indexer shows it: once, after restarts too."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from eth_typing import HexStr
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.chain.demo import write_demo_chain
from api.chain.side import chain_side_from_settings
from api.clock import SystemClock
from api.identifiers import MunicipalityCode, MykeyId
from api.indexer.follower import ChainIndexer, events_named
from api.ports import Points
from api.settings import ApiSettings
from api.store.database import Store
from api.store.models import ChainCursor, ChainEvent
from tests.api_chain.conftest import (
    KAWASAKI,
    ChainWorld,
    grant,
    new_card,
    register,
    staff_token,
)


def _indexer(world: ChainWorld, store: Store) -> ChainIndexer:
    return ChainIndexer(world.w3, world.demo.deployment, store, now=lambda: 0, batch_blocks=7)


def test_grant_lands_on_chain_and_indexer_records_it(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    mykey_id = register(api, new_card(world))
    token = staff_token(store, api, role="municipal-staff", organisation="14130")

    granted = grant(api, token, mykey_id, 1_200)

    receipt = world.w3.eth.get_transaction_receipt(HexStr(str(granted["transaction_hash"])))
    assert receipt["status"] == 1
    assert api.app.state.chain.ledger.balance_of(mykey_id, KAWASAKI) == 1_200  # type: ignore[attr-defined]
    indexer = _indexer(world, store)
    assert indexer.catch_up() > 0
    assert indexer.lag() <= 1
    with store.sessions() as db:
        grants = [e for e in events_named(db, "PointsGranted") if e.mykey_id == mykey_id]
        registrations = [e for e in events_named(db, "MykeyRegistered") if e.mykey_id == mykey_id]
    assert len(grants) == 1
    assert grants[0].amount == 1_200
    assert grants[0].municipality == KAWASAKI
    assert grants[0].transaction_hash == granted["transaction_hash"]
    assert json.loads(grants[0].args_json)["activity"] == 1
    assert len(registrations) == 1


def test_indexer_resumes_after_restart_with_no_gap_and_no_double(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    first = _indexer(world, store)
    first.poll_once()
    first.poll_once()  # stop part-way: a later indexer must pick up exactly here
    stopped_at = first.next_block()
    mykey_id = register(api, new_card(world))
    token = staff_token(store, api, role="municipal-staff", organisation="14130")
    grant(api, token, mykey_id, 300)

    second = _indexer(world, store)  # a new process: only the store remembers
    assert second.next_block() == stopped_at
    second.catch_up()
    second.catch_up()  # catching up twice adds nothing
    with store.sessions() as db:
        rows = list(db.scalars(select(ChainEvent)))
        cursor = db.get(ChainCursor, "ledger")
    positions = [(row.block_number, row.log_index) for row in rows]
    assert len(positions) == len(set(positions))
    # no gap: every ledger log in the chain up to the cursor is in the store
    assert cursor is not None
    logs = world.w3.eth.get_logs(
        {
            "fromBlock": world.demo.deployment.block_number,
            "toBlock": cursor.next_block - 1,
            "address": [world.demo.deployment.ledger, world.demo.deployment.registry],
        }
    )
    on_chain = {(int(log["blockNumber"]), int(log["logIndex"])) for log in logs}
    assert on_chain <= set(positions)
    assert any(row.mykey_id == mykey_id and row.name == "PointsGranted" for row in rows)


def test_one_indexer_polled_from_several_threads_stores_each_event_once(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    mykey_id = register(api, new_card(world))
    token = staff_token(store, api, role="municipal-staff", organisation="14130")
    grant(api, token, mykey_id, 250)
    indexer = _indexer(world, store)  # the app's follower thread and a request share one

    with ThreadPoolExecutor(max_workers=4) as pool:
        totals = list(pool.map(lambda _: indexer.catch_up(), range(4)))

    assert sum(totals) == indexer.next_block() - world.demo.deployment.block_number
    with store.sessions() as db:
        rows = list(db.scalars(select(ChainEvent)))
    positions = [(row.block_number, row.log_index) for row in rows]
    assert len(positions) == len(set(positions))
    assert any(row.mykey_id == mykey_id and row.name == "PointsGranted" for row in rows)


def test_operator_sees_node_head_peers_and_indexer_lag(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    operator = {
        "Authorization": "Bearer "
        + staff_token(store, api, role="node-operator", organisation=None)
    }
    behind = api.get("/operator/chain", headers=operator).json()
    assert behind["indexer_lag"] > 0  # this app's indexer has not run yet
    assert behind["indexer_lag"] == behind["node_head"] - behind["indexed_to"]

    api.app.state.indexer.catch_up()  # type: ignore[attr-defined]
    healthy = api.get("/operator/chain", headers=operator)

    assert healthy.status_code == 200, healthy.text
    body = healthy.json()
    assert body["node_head"] >= behind["node_head"]
    assert body["indexed_to"] > behind["indexed_to"]
    assert body["peers"] == 0  # a one-validator dev ledger
    assert body["indexer_lag"] <= 1


def test_chain_side_from_settings_reads_config_and_encrypted_keys(
    world: ChainWorld, tmp_path: Path
) -> None:
    config_file, keystore, password_file = write_demo_chain(
        tmp_path / "chain", world.node.http_url, world.demo
    )
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in keystore.glob("*.json"))
    assert world.demo.platform_key[2:] not in "".join(
        p.read_text() for p in keystore.glob("*.json")
    )  # keys are stored encrypted only
    settings = ApiSettings.for_data_dir(
        tmp_path / "data",
        chain_config_file=config_file,
        keystore_dir=keystore,
        keystore_password_file=password_file,
    )
    side = chain_side_from_settings(settings, SystemClock())
    assert side is not None
    assert side.ledger.mykey_status("DEMOA001") == (1, KAWASAKI)
    assert chain_side_from_settings(ApiSettings.for_data_dir(tmp_path / "x"), SystemClock()) is None


def test_concurrent_sends_from_one_key_get_consecutive_nonces(
    world: ChainWorld, api: TestClient
) -> None:
    ledger = api.app.state.chain.ledger  # type: ignore[attr-defined]
    before = ledger.balance_of("DEMOB002", 13116)

    def one(index: int) -> str:
        return str(
            ledger.grant_points(
                mykey_id=MykeyId("DEMOB002"),
                municipality=MunicipalityCode("13116"),
                points=Points(1),
                activity="health-walk-rally",
                reference=index.to_bytes(32, "big"),
            )
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        hashes = list(pool.map(one, range(8)))

    nonces = sorted(int(world.w3.eth.get_transaction(HexStr(h))["nonce"]) for h in hashes)
    assert nonces == list(range(nonces[0], nonces[0] + 8))
    assert ledger.balance_of("DEMOB002", 13116) == before + 8
