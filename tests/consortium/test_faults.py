"""Crash, restart, halt and resume with four validator processes on loopback.

One scenario (starting four processes costs more than the checks): kill -9 one validator, blocks
go on; restart it, it catches up and takes part again (it proposes blocks and its commit seals
are in blocks after the restart); stop two, the chain halts without forking; bring one back, the
chain resumes. At the end the stored blocks are read back and their seals verified.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from node.chain import Chain
from node.genesis import CHAIN_DIR, GENESIS_FILE, load_genesis
from node.seals import verify_commit_seals
from node.storage.leveldb import LevelDBStore
from tests.consortium.harness import (
    ConsortiumNodeDir,
    NodeProcess,
    make_consortium,
    start_all,
    wait_until,
)
from tests.consortium.test_network import agreed_hashes

Launch = Callable[[ConsortiumNodeDir], NodeProcess]
HALT_WATCH_SECONDS = 5.0


def heads(processes: list[NodeProcess]) -> list[int]:
    """Return each process's head number."""
    return [process.head() for process in processes]


def signers_by_block(datadir: Path, first: int) -> dict[int, tuple[bytes, set[bytes]]]:
    """Read a stopped node's chain: block -> (coinbase, commit-seal signers), from `first`."""
    store = LevelDBStore(datadir / CHAIN_DIR)
    try:
        chain = Chain(store, load_genesis(datadir / GENESIS_FILE))
        found: dict[int, tuple[bytes, set[bytes]]] = {}
        for number in range(first, chain.head_header.block_number + 1):
            header = chain.header_by_number(number)
            assert header is not None
            validators = chain.validators_at(number - 1)
            found[number] = (
                bytes(header.coinbase),
                set(verify_commit_seals(header, validators)),
            )
        return found
    finally:
        store.close()


def test_crash_restart_halt_and_resume(tmp_path: Path, launch: Launch) -> None:
    nodes = make_consortium(tmp_path / "net", ["v1", "v2", "v3", "v4"])
    processes = [launch(node) for node in nodes]
    v1, v2, v3, v4 = processes
    start_all(processes)
    wait_until(lambda: min(heads(processes)) >= 2, 60, "blocks on all four validators")

    v4.kill()  # kill -9: no clean shutdown, its log and store as a crash leaves them
    crashed_at = max(heads([v1, v2, v3]))
    wait_until(lambda: min(heads([v1, v2, v3])) >= crashed_at + 4, 60, "blocks going on without v4")

    v4.start()
    restarted_at = max(heads([v1, v2, v3]))
    wait_until(
        lambda: v4.head() >= max(heads([v1, v2, v3])) - 1, 60, "the restarted v4 catching up"
    )
    wait_until(
        lambda: any(
            v1.rpc("eth_getBlockByNumber", [hex(n), False])["miner"] == "0x" + v4.address.hex()
            for n in range(restarted_at + 1, v1.head() + 1)
        ),
        60,
        "v4 proposing a block again after its restart",
    )

    v3.stop()
    v4.stop()
    time.sleep(1.5)  # a block in flight when they stopped may still land
    halted = heads([v1, v2])
    time.sleep(HALT_WATCH_SECONDS)
    assert heads([v1, v2]) == halted, "two of four validators cannot finalize a block"
    agreed_hashes([v1, v2], min(halted))

    v3.start()
    wait_until(
        lambda: min(heads([v1, v2, v3])) >= max(halted) + 2, 90, "the chain resuming with v3"
    )
    top = min(heads([v1, v2, v3]))
    agreed_hashes([v1, v2, v3], top)

    for process in (v1, v2, v3):
        process.stop()
    # Each node stores the quorum of seals it gathered itself; v4's seal must be in a block
    # finalized after its restart in some node's store (its own, when it committed the block).
    stores = [signers_by_block(node.datadir, restarted_at + 1) for node in nodes]
    assert any(v4.address in signers for stored in stores for _, signers in stored.values()), (
        "v4's commit seal is in no block finalized after its restart"
    )
    sealed = stores[0]
    for number, (_, signers) in sealed.items():
        assert len(signers) >= 3, f"block {number} has {len(signers)} seals, quorum is 3"
