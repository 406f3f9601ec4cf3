"""A dev ledger node with the demo consortium, started in-process for the explorer tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from contracts.demo import DemoConsortium, deploy_demo
from contracts.events import event_topic
from node.devmode import start_embedded


@dataclass(frozen=True)
class DemoChain:
    """A running node's RPC URL, the demo consortium on it, and its first grant's transaction."""

    rpc_url: str
    demo: DemoConsortium
    grant_transaction: str
    grant_block: int
    spare_key: str
    """A funded dev account's throwaway key, for making new blocks during a test."""


@contextmanager
def demo_chain(datadir: Path) -> Iterator[DemoChain]:
    """Start a dev node on `datadir`, deploy the demo consortium with points, stop at the end."""
    node = start_embedded(datadir)
    try:
        w3 = Web3(Web3.HTTPProvider(node.http_url))
        demo = deploy_demo(w3, node.dev_accounts[0].private_key, gas_limit=3_000_000)
        logs = w3.eth.get_logs(
            {
                "fromBlock": 0,
                "toBlock": "latest",
                "address": demo.deployment.ledger,
                "topics": ["0x" + event_topic("PointLedger", "PointsGranted").hex()],
            }
        )
        first = logs[0]
        yield DemoChain(
            rpc_url=node.http_url,
            demo=demo,
            grant_transaction="0x" + bytes(first["transactionHash"]).hex(),
            grant_block=int(first["blockNumber"]),
            spare_key=node.dev_accounts[1].private_key,
        )
    finally:
        node.stop()
