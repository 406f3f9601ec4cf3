"""The asyncio driver with a real log file and real timers: one validator seals blocks, restarts.

An integration test: real event loop and file, short block period; it waits on events, not sleeps.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from node.consensus.crypto import KeySigner, recover_address
from node.consensus.driver import ConsensusDriver
from node.consensus.events import NewChainHead, StartHeight
from node.consensus.simulation import FinalizedBlock, ToyBlock, ToyChain, block_identity
from node.consensus.state import ZERO_ADDRESS, Config, Context
from node.consensus.wal import decode_log
from node.ports import Address

SIGNER = KeySigner(keccak(b"consensus driver test key"))


class Chain:
    """A toy chain behind the driver's ConsensusChain port; `grown` fires at `target` height."""

    def __init__(self, target: int) -> None:
        self.toy = ToyChain((SIGNER.address,))
        self.target = target
        self.grown = asyncio.Event()

    def build(self, height: int, round: int, proposer: Address, timestamp_ms: int) -> bytes:
        return self.toy.build(height, round, proposer, timestamp_ms, nonce=height)

    def import_sealed(self, block: bytes, round: int, seals: tuple[bytes, ...]) -> NewChainHead:
        toy = ToyBlock.decode(block)
        digest = self.toy.digest(block, round)
        assert [recover_address(digest, s) for s in seals] == [SIGNER.address]
        self.toy.blocks.setdefault(
            toy.height, FinalizedBlock(block, round, seals, block_identity(block))
        )
        if self.toy.head >= self.target:
            self.grown.set()
        return NewChainHead(toy.height, (SIGNER.address,), toy.proposer, toy.timestamp_ms)

    def head_event(self) -> NewChainHead:
        if self.toy.head == 0:
            return NewChainHead(0, (SIGNER.address,), ZERO_ADDRESS, 0)
        toy = ToyBlock.decode(self.toy.blocks[self.toy.head].block)
        return NewChainHead(toy.height, (SIGNER.address,), toy.proposer, toy.timestamp_ms)


class Peers:
    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes]] = []

    def broadcast(self, code: int, data: bytes) -> None:
        self.sent.append((code, data))


async def run_until(driver: ConsensusDriver, chain: Chain, first: StartHeight) -> None:
    await driver.start(first)
    task = asyncio.create_task(driver.run())
    try:
        await asyncio.wait_for(chain.grown.wait(), timeout=20)
    finally:
        task.cancel()
        driver.close()


def test_a_single_validator_seals_blocks_and_resumes_from_its_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="node.consensus")
    config = Config(block_period_ms=20, request_timeout_ms=2000)
    chain = Chain(target=3)
    context = Context(config, chain.toy, SIGNER, recover_address)
    wal = tmp_path / "wal"
    first = StartHeight(1, (SIGNER.address,), ZERO_ADDRESS, 0)
    peers = Peers()
    asyncio.run(run_until(ConsensusDriver(context, wal, chain, peers), chain, first))
    assert chain.toy.head >= 3
    assert {code for code, _ in peers.sent} == {0x12, 0x13, 0x14}
    summaries = [r.message for r in caplog.records if "QBFT round summary" in r.message]
    assert any("height=1 round=0" in s and "outcome=committed" in s for s in summaries)
    records, whole = decode_log(wal.read_bytes())
    assert whole == wal.stat().st_size
    assert isinstance(records[0].event, NewChainHead)  # one segment: the current height only
    assert wal.stat().st_mode & 0o777 == 0o600

    chain.target = chain.toy.head + 2
    chain.grown = asyncio.Event()  # the first one belongs to the first event loop
    restarted = ConsensusDriver(context, wal, chain, Peers())
    asyncio.run(run_until(restarted, chain, first))
    assert chain.toy.head >= chain.target
    assert restarted.state.height >= chain.target
