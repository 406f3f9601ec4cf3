"""Crash recovery: a real node-core process on LevelDB, killed with SIGKILL at random moments.

After each kill the data directory is reopened and must show: a head at or after the last block
the process reported, state that re-executes to every stored header's state root, and every
transaction the process reported accepted either mined, still pooled, or reported lost with a
reason (never silently gone).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.chain import Chain
from node.genesis import create_node_key, init_datadir, load_genesis
from node.ledger import open_ledger
from node.ports import Hash32
from node.storage import MemoryStore
from tests.node.conftest import TEST_VALIDATOR_KEY

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 3


def wait_for_lines(logfile: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    """Poll the worker's log until it has `count` lines (the test fails if the worker dies)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"worker exited early: {process.stderr.read().decode() if process.stderr else ''}"
            )
        if logfile.exists() and logfile.read_text().count("\n") >= count:
            return
        time.sleep(0.01)  # integration test: waiting on a real process
    pytest.fail("worker made no progress in 60 s")


def replay_matches(datadir: Path) -> int:
    """Re-execute every stored block on a fresh memory chain; return the head number."""
    ledger = open_ledger(datadir)
    try:
        genesis = ledger.chain.genesis
        fresh_store = MemoryStore()
        Chain.initialize(fresh_store, genesis)
        fresh = Chain(fresh_store, genesis)
        head = ledger.chain.head_header.block_number
        for number in range(1, head + 1):
            header = ledger.chain.header_by_number(number)
            assert header is not None
            transactions = ledger.chain.block_transactions(header.hash)
            fresh.import_block(header, transactions, float(header.timestamp))
        assert fresh.head_header.state_root == ledger.chain.head_header.state_root
        return head
    finally:
        ledger.close()


@pytest.mark.realstack
def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path, genesis_file: Path) -> None:
    datadir = tmp_path / "node"
    create_node_key(datadir, TEST_VALIDATOR_KEY.secret)
    init_datadir(datadir, genesis_file)
    assert load_genesis(datadir / "genesis.json").chain_id == 1337
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    logfile = tmp_path / "worker.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for round_number in range(ROUNDS):
        before = logfile.read_text().count("\n") if logfile.exists() else 0
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.node.crash_worker",
                str(datadir),
                str(logfile),
                str(round_number),
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_lines(logfile, before + rng.randint(20, 160), process)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        lines = logfile.read_text().splitlines()
        blocks = [int(line.split()[1]) for line in lines if line.startswith("block ")]
        accepted = [
            bytes.fromhex(line.split()[1]) for line in lines if line.startswith("accepted ")
        ]
        head = replay_matches(datadir)
        if blocks:
            assert blocks[-1] <= head <= blocks[-1] + 1
        ledger = open_ledger(datadir)
        try:
            lost = dict(ledger.txpool.lost_on_restart)
            for tx_hash in accepted:
                known = (
                    ledger.chain.transaction(Hash32(tx_hash)) is not None
                    or ledger.txpool.pending_transaction(Hash32(tx_hash)) is not None
                    or Hash32(tx_hash) in lost
                    or ledger.txpool.drop_reason(Hash32(tx_hash)) is not None
                )
                assert known, f"accepted transaction 0x{tx_hash.hex()} vanished after SIGKILL"
        finally:
            ledger.close()
