"""Fixtures for the node core tests: test keys, a genesis, and ledgers on memory or LevelDB.

Every key here is a throwaway made for tests (TEST_*), never used on a real network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import coincurve
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.chain import Chain
from node.config import NodeConfig, TxPoolConfig
from node.extradata import ExtraData, encode_extra_data
from node.genesis import parse_genesis
from node.ledger import Ledger, build_ledger
from node.seals import address_of
from node.storage import MemoryStore

CHAIN_ID = 1337
GAS_LIMIT = 30_000_000
TEST_VALIDATOR_KEY = coincurve.PrivateKey(bytes.fromhex("11" * 32))
TEST_USER_KEYS = [bytes([0x20 + index]) * 32 for index in range(4)]
RICH = 10**24


def validator_address(key: coincurve.PrivateKey = TEST_VALIDATOR_KEY) -> bytes:
    """Return the address of a test validator key."""
    return address_of(key.public_key)


def genesis_document(
    validators: list[bytes] | None = None,
    alloc: dict[str, Any] | None = None,
    period: int = 1,
) -> dict[str, Any]:
    """Return a Besu-format genesis document for tests."""
    members = validators if validators is not None else [validator_address()]
    users = {Account.from_key(key).address: {"balance": hex(RICH)} for key in TEST_USER_KEYS}
    users.update(alloc or {})
    return {
        "config": {
            "chainId": CHAIN_ID,
            "qbft": {
                "blockperiodseconds": period,
                "requesttimeoutseconds": 1,
                "epochlength": 30000,
            },
        },
        "alloc": users,
        "extraData": "0x" + encode_extra_data(ExtraData(b"\x00" * 32, tuple(members))).hex(),
        "gasLimit": hex(GAS_LIMIT),
        "timestamp": "0x0",
        "difficulty": "0x1",
    }


class FakeClock:
    """A clock the tests move by hand: one block period per tick."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def tick(self, seconds: float = 1.0) -> float:
        """Advance and return the new time."""
        self.now += seconds
        return self.now


@pytest.fixture
def users() -> list[LocalAccount]:
    """Funded test accounts."""
    return [Account.from_key(key) for key in TEST_USER_KEYS]


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock."""
    return FakeClock()


@pytest.fixture
def make_ledger() -> Iterator[Callable[..., Ledger]]:
    """Build ledgers on fresh memory stores; closes them afterwards."""
    opened: list[Ledger] = []

    def make(
        document: dict[str, Any] | None = None,
        config: NodeConfig | None = None,
        key: coincurve.PrivateKey = TEST_VALIDATOR_KEY,
    ) -> Ledger:
        genesis = parse_genesis(json.loads(json.dumps(document or genesis_document())))
        store = MemoryStore()
        Chain.initialize(store, genesis)
        ledger = build_ledger(store, genesis, config or NodeConfig(), key)
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    """A one-validator ledger on memory with funded users."""
    return make_ledger()


@pytest.fixture
def small_pool_config() -> NodeConfig:
    """Config with tiny pool limits, for limit tests."""
    return NodeConfig(txpool=TxPoolConfig(max_per_sender=3, max_total=5, max_future_gap=4))


@pytest.fixture
def genesis_file(tmp_path: Path) -> Path:
    """A genesis.json on disk."""
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(genesis_document()), encoding="utf-8")
    return path
