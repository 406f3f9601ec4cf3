"""Chains for the contract tests: all of them run through this project's node.

One dev node per session (node.devmode.start_embedded) on 127.0.0.1 with free ports, sealing a
block every 50 ms (genesis xblockperiodmilliseconds) and serving the dev clock methods
(evm_increaseTime, evm_setNextBlockTimestamp, evm_mine): real signed transactions over
JSON-RPC, receipts, logs and revert data.

- `w3`, `accounts`, `node_ledger`: the node and the demo consortium with the deck's points,
  deployed once per session (test_on_node.py).
- `ledger`: a fresh deployment of the demo consortium (no points) for every test. The node has no
  snapshot/revert; a deployment takes about half a second and a handful of blocks, so a fresh
  one per test gives the same isolation.
- `timed`: the same, plus `timed.advance(seconds)`, which mines an empty block `seconds` after the
  latest one with the node's dev clock: expiry, reserve deadlines, refund windows, vouchers.
  Time on the node only moves forward, which fresh deployments do not mind.
- `deploy_timed`: a factory of fresh timed deployments (one per Hypothesis example).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from contracts.client import LedgerClient
from contracts.demo import deploy_demo
from tests.contracts.harness import Harness

BLOCK_PERIOD = 0.05
"""Seconds per block on the test node: 20 blocks a second keep each transaction's wait short."""


class DevClockError(RuntimeError):
    """The node refused a dev clock request (is it a dev node started by start_embedded?)."""


@dataclass
class NodeChain:
    """The test node's chain, whose block time the test moves forward with the dev clock."""

    w3: Web3
    funder_key: str

    def now(self) -> int:
        """The latest block's timestamp."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def _dev(self, method: str, *params: Any) -> Any:
        answer = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in answer:
            raise DevClockError(f"{method} failed: {answer['error']}")
        return answer["result"]

    def advance(self, seconds: int) -> int:
        """Mine an empty block exactly `seconds` after the latest one; return its timestamp."""
        self._dev("evm_setNextBlockTimestamp", self.now() + seconds)
        self._dev("evm_mine")
        return self.now()


@dataclass
class TimedHarness(Harness):
    """A Harness on the NodeChain: `advance` moves block time."""

    chain: NodeChain | None = None

    def advance(self, seconds: int) -> int:
        assert self.chain is not None
        return self.chain.advance(seconds)


GAS_LIMIT = 3_000_000
"""Fixed gas per test transaction: estimation would run every call twice on the node."""


@pytest.fixture(scope="session")
def _node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from node.devmode import start_embedded

    node = start_embedded(tmp_path_factory.mktemp("node"), block_period=BLOCK_PERIOD)
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
def chain(w3: Web3, accounts: list[tuple[str, str]]) -> NodeChain:
    """The node's chain with the dev clock; dev account 1 deploys and funds the matrix tests."""
    return NodeChain(w3=w3, funder_key=accounts[1][1])


@pytest.fixture(scope="session")
def deploy_timed(chain: NodeChain) -> Callable[[], TimedHarness]:
    """Return a function that deploys a fresh demo consortium (no points) on the node."""

    def deploy() -> TimedHarness:
        deployer = Account.from_key(chain.funder_key).address
        first_nonce = chain.w3.eth.get_transaction_count(deployer)
        demo = deploy_demo(chain.w3, chain.funder_key, with_points=False, gas_limit=GAS_LIMIT)
        return TimedHarness(
            w3=chain.w3,
            client=LedgerClient(chain.w3, demo.deployment, gas_limit=GAS_LIMIT),
            demo=demo,
            funder_key=chain.funder_key,
            now=chain.now,
            deployer_first_nonce=first_nonce,
            chain=chain,
        )

    return deploy


@pytest.fixture
def ledger(deploy_timed: Callable[[], TimedHarness]) -> Harness:
    """A fresh demo consortium (no points yet) on the node, for this test alone."""
    return deploy_timed()


@pytest.fixture
def timed(deploy_timed: Callable[[], TimedHarness]) -> TimedHarness:
    """A fresh demo consortium on the node whose block time the test moves forward."""
    return deploy_timed()
