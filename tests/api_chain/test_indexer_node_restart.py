"""The indexer survives its node restarting: it waits, then resumes with no gap and no double."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import select

from api.chain.ledger import connect
from api.indexer.follower import ChainIndexer, IndexerThread
from api.store.database import open_store
from api.store.models import ChainEvent
from contracts.client import LedgerClient
from contracts.deploy import deploy_ledger
from node.devmode import start_embedded


def _wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _registered(store_url: str) -> list[str]:
    store = open_store(store_url)
    try:
        with store.sessions() as db:
            rows = db.scalars(
                select(ChainEvent.mykey_id).where(ChainEvent.name == "MykeyRegistered")
            )
            return [str(row) for row in rows]
    finally:
        store.close()


def test_indexer_follows_across_a_node_restart(tmp_path: Path) -> None:
    datadir = tmp_path / "node"
    node = start_embedded(datadir)
    port = urlparse(node.http_url).port
    platform_key = node.dev_accounts[0].private_key
    w3 = connect(node.http_url)
    deployment = deploy_ledger(w3, platform_key)
    client = LedgerClient(w3, deployment, gas_limit=3_000_000)
    client.admit_municipality(platform_key, "14130", node.dev_accounts[1].address)
    client.register_mykey(platform_key, "RESTART1", 14130)
    store_url = f"sqlite:///{tmp_path / 'api.sqlite'}"
    store = open_store(store_url)
    indexer = ChainIndexer(w3, deployment, store, now=lambda: 0)
    follower = IndexerThread(indexer, interval=0.1)
    follower.start()
    try:
        _wait_for(lambda: "RESTART1" in _registered(store_url))
        node.stop()
        _wait_for(lambda: follower.last_error is not None)  # it noticed, and keeps trying

        node = start_embedded(datadir, http_port=port or 0)
        client = LedgerClient(connect(node.http_url), deployment, gas_limit=3_000_000)
        client.register_mykey(platform_key, "RESTART2", 14130)
        _wait_for(lambda: "RESTART2" in _registered(store_url))
    finally:
        follower.stop()
        node.stop()
        store.close()

    assert follower.last_error is None
    registered = _registered(store_url)
    assert sorted(registered) == ["RESTART1", "RESTART2"]
