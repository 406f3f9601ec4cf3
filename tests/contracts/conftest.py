"""Chains for the contract tests.

- `w3` (plus `accounts`, `node_ledger`): this project's node (node.devmode.start_embedded), one
  per session, on 127.0.0.1 with free ports: real transactions, receipts, logs and revert data
  over JSON-RPC. QBFT seals at most one block a second (genesis block period >= 1 s), so the
  node runs the end-to-end rule tests of test_on_node.py.
- `ledger`: the same contracts and client on an in-process py-evm chain (eth-tester, Prague),
  reset by snapshot after every test, for the full matrix of allowed and refused cases.
- `timed`: an in-process chain whose clock a test moves (`timed.advance(seconds)`), for what
  needs days to pass: expiry, reserve deadlines, refund windows, vouchers, the model tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware

from contracts.client import LedgerClient
from contracts.demo import deploy_demo
from tests.contracts.harness import Harness


@dataclass
class ClockChain:
    """An in-process chain whose block time the test controls."""

    w3: Web3
    tester: EthereumTester
    funder_key: str

    def now(self) -> int:
        """The latest block's timestamp."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> int:
        """Mine an empty block `seconds` after the latest one; return its timestamp.

        eth-tester's time_travel(T) mines a block at T - 1 and the next one at T.
        """
        target = self.now() + seconds
        self.tester.time_travel(target + 1)
        return self.now()

    def snapshot(self) -> Any:
        return self.tester.take_snapshot()

    def revert(self, snapshot: Any) -> None:
        self.tester.revert_to_snapshot(snapshot)


def make_test_chain() -> ClockChain:
    backend = PyEVMBackend()
    tester = EthereumTester(backend)
    w3 = Web3(EthereumTesterProvider(tester))
    return ClockChain(w3=w3, tester=tester, funder_key=backend.account_keys[0].to_hex())


@dataclass
class TimedHarness(Harness):
    """A Harness on a ClockChain: `advance` moves the clock."""

    chain: ClockChain | None = None

    def advance(self, seconds: int) -> int:
        assert self.chain is not None
        return self.chain.advance(seconds)


GAS_LIMIT = 3_000_000
"""Fixed gas per test transaction: estimation would run every call twice on py-evm."""


@pytest.fixture(scope="session")
def _node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from node.devmode import start_embedded

    node = start_embedded(tmp_path_factory.mktemp("node"), block_period=0.05)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def w3(_node: Any) -> Web3:
    """web3 over HTTP JSON-RPC to the running node (QBFT extraData needs the POA middleware)."""
    client = Web3(Web3.HTTPProvider(_node.http_url))
    client.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return client


@pytest.fixture(scope="session")
def accounts(_node: Any) -> list[tuple[str, str]]:
    """The node's funded dev accounts as (address, private key); the first is the platform."""
    return [(account.address, account.private_key) for account in _node.dev_accounts]


@pytest.fixture(scope="session")
def node_ledger(w3: Web3, accounts: list[tuple[str, str]]) -> Harness:
    """The demo consortium (with the deck's points) deployed on the node, once per session."""
    deployer_key = accounts[0][1]
    demo = deploy_demo(w3, deployer_key)
    return Harness(
        w3=w3,
        client=LedgerClient(w3, demo.deployment),
        demo=demo,
        funder_key=deployer_key,
        now=lambda: int(w3.eth.get_block("latest")["timestamp"]),
    )


@pytest.fixture(scope="session")
def _session_chain() -> ClockChain:
    return make_test_chain()


@pytest.fixture(scope="session")
def _session_ledger(_session_chain: ClockChain) -> Harness:
    chain = _session_chain
    demo = deploy_demo(chain.w3, chain.funder_key, with_points=False, gas_limit=GAS_LIMIT)
    return Harness(
        w3=chain.w3,
        client=LedgerClient(chain.w3, demo.deployment, gas_limit=GAS_LIMIT),
        demo=demo,
        funder_key=chain.funder_key,
        now=chain.now,
    )


@pytest.fixture
def ledger(_session_ledger: Harness, _session_chain: ClockChain) -> Iterator[Harness]:
    """The demo consortium (no points yet) on `w3`; state changes are undone after each test."""
    snapshot = _session_chain.snapshot()
    try:
        yield _session_ledger
    finally:
        _session_chain.revert(snapshot)


@pytest.fixture(scope="session")
def _timed_session() -> tuple[ClockChain, TimedHarness]:
    chain = make_test_chain()
    demo = deploy_demo(chain.w3, chain.funder_key, with_points=False, gas_limit=GAS_LIMIT)
    harness = TimedHarness(
        w3=chain.w3,
        client=LedgerClient(chain.w3, demo.deployment, gas_limit=GAS_LIMIT),
        demo=demo,
        funder_key=chain.funder_key,
        now=chain.now,
        chain=chain,
    )
    return chain, harness


@pytest.fixture
def timed(_timed_session: tuple[ClockChain, TimedHarness]) -> Iterator[TimedHarness]:
    """The demo consortium on a clock-controlled chain, reset after each test."""
    chain, harness = _timed_session
    snapshot = chain.snapshot()
    try:
        yield harness
    finally:
        chain.revert(snapshot)
