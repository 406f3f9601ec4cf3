"""In-process benchmark: submit, build, seal and persist blocks of point-contract calls.

Starts a one-validator ledger in a throwaway LevelDB data directory, deploys the point contract
(tests/node/point_contract.py), presigns N `grant` calls from several senders (signing is the
client's work, not timed), then times (1) `txpool.submit` of every raw transaction (decode,
sender recovery, checks, pool persistence) and (2) `produce_block` until the pool is empty
(execution on py-evm, roots, seal, one LevelDB batch per block). The last line is

    RESULT tx_per_s=<submit+build+persist> build_tx_per_s=<build+persist only> ...

with wall-clock rates, and the same rates from this process's CPU time (`cpu_*`), which is what
an idle core would give when other work shares the machine.

Usage: .venv/bin/python -m bench.block_building [--transactions N] [--senders K] [--profile]
`--profile` runs the block building under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_hash.auto import keccak

from node.extradata import ExtraData, encode_extra_data
from node.genesis import create_node_key, init_datadir, node_address
from node.ledger import Ledger, open_ledger
from node.ports import Address, CallRequest
from node.transactions import decode_transaction
from tests.node.point_contract import POINTS_BYTECODE

CHAIN_ID = 4242
GRANT = keccak(b"grant(uint32,bytes8,uint256)")[:4]
BENCH_VALIDATOR_SECRET = bytes.fromhex("b1" * 32)  # a throwaway key made for this benchmark


def make_datadir(root: Path, senders: list[Any], gas_limit: int) -> Path:
    """Create a datadir whose genesis funds the senders; return it."""
    datadir = root / "node"
    key = create_node_key(datadir, BENCH_VALIDATOR_SECRET)
    genesis = {
        "config": {"chainId": CHAIN_ID, "qbft": {"blockperiodseconds": 1}},
        "alloc": {account.address: {"balance": hex(10**24)} for account in senders},
        "extraData": "0x" + encode_extra_data(ExtraData(b"\x00" * 32, (node_address(key),))).hex(),
        "gasLimit": hex(gas_limit),
        "timestamp": "0x0",
    }
    path = root / "genesis.json"
    path.write_text(json.dumps(genesis), encoding="utf-8")
    (datadir / "config.toml").write_text(
        "[txpool]\nmax_per_sender = 100000\nmax_total = 1000000\n", encoding="utf-8"
    )
    init_datadir(datadir, path)
    return datadir


def deploy(ledger: Ledger, account: Any) -> bytes:
    """Deploy the point contract; return its address."""
    raw = account.sign_transaction(
        {"nonce": 0, "gasPrice": 0, "gas": 1_000_000, "data": POINTS_BYTECODE, "chainId": CHAIN_ID}
    ).raw_transaction
    tx_hash = ledger.txpool.submit(bytes(raw))
    head = ledger.chain.head_header
    ledger.produce_block(float(head.timestamp + 1))
    receipt = ledger.chain.receipt(tx_hash)
    assert receipt is not None and receipt.contract_address is not None
    return bytes(receipt.contract_address)


def presign(senders: list[Any], contract: bytes, count: int, gas: int) -> list[bytes]:
    """Return `count` signed grant calls spread round-robin over the senders."""
    raws = []
    nonces = [1 if index == 0 else 0 for index in range(len(senders))]
    for index in range(count):
        who = index % len(senders)
        data = GRANT + encode(
            ["uint32", "bytes8", "uint256"], [14130 + index % 7, b"MK%06d" % (index % 5000), 10]
        )
        tx = {
            "nonce": nonces[who],
            "gasPrice": 0,
            "gas": gas,
            "to": contract,
            "data": data,
            "chainId": CHAIN_ID,
        }
        nonces[who] += 1
        raws.append(bytes(senders[who].sign_transaction(tx).raw_transaction))
    return raws


def build_all(ledger: Ledger) -> tuple[int, int]:
    """Produce blocks until the pool is empty; return (blocks, transactions)."""
    blocks = transactions = 0
    while ledger.txpool.pending_count():
        head = ledger.chain.head_header
        block = ledger.produce_block(float(head.timestamp + 1))
        if block is None:
            break
        blocks += 1
        transactions += len(block.transactions)
    return blocks, transactions


@dataclass
class Measurement:
    """Wall and CPU seconds of the two timed phases."""

    transactions: int = 0
    blocks: int = 0
    gas_per_tx: int = 0
    submit_wall: float = 0.0
    build_wall: float = 0.0
    submit_cpu: float = 0.0
    build_cpu: float = 0.0


def run(options: argparse.Namespace, profiler: cProfile.Profile | None) -> Measurement:
    """Set up a throwaway node, then time submission and block building."""
    senders = [
        Account.from_key(bytes([0xC0 + index % 60]) * 31 + bytes([index // 60 + 1]))
        for index in range(options.senders)
    ]
    result = Measurement()
    with tempfile.TemporaryDirectory(prefix="mykey-bench-") as root:
        ledger = open_ledger(make_datadir(Path(root), senders, options.gas_limit))
        try:
            contract = deploy(ledger, senders[0])
            sample = presign(senders[:1], contract, 1, 200_000)[0]
            estimate = ledger.chain.estimate_gas(
                _call_of(decode_transaction(sample, CHAIN_ID)), ledger.chain.head().number
            )
            result.gas_per_tx = estimate * 12 // 10
            raws = presign(senders, contract, options.transactions, result.gas_per_tx)
            wall, cpu = time.perf_counter(), time.process_time()
            for raw in raws:
                ledger.txpool.submit(raw)
            result.submit_wall = time.perf_counter() - wall
            result.submit_cpu = time.process_time() - cpu
            wall, cpu = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            result.blocks, result.transactions = build_all(ledger)
            if profiler is not None:
                profiler.disable()
            result.build_wall = time.perf_counter() - wall
            result.build_cpu = time.process_time() - cpu
            receipts = ledger.chain.block_receipts(ledger.chain.head().number)
            assert all(receipt.status == 1 for receipt in receipts), "a grant failed"
        finally:
            ledger.close()
    return result


def report(result: Measurement, profiler: cProfile.Profile | None) -> None:
    """Print the figures, the profile when taken, and the RESULT line last."""
    count = result.transactions
    print(f"transactions={count} blocks={result.blocks} gas_per_tx_limit={result.gas_per_tx}")
    print(f"submit: {result.submit_wall:.3f} s wall ({count / result.submit_wall:.0f} tx/s)")
    print(
        f"build+seal+persist: {result.build_wall:.3f} s wall ({count / result.build_wall:.0f} tx/s)"
    )
    print(
        "cpu time of this process (what an idle core gives when others share the machine): "
        f"submit {count / result.submit_cpu:.0f} tx/s, "
        f"build+seal+persist {count / result.build_cpu:.0f} tx/s"
    )
    if profiler is not None:
        for order, lines in (("cumulative", 30), ("tottime", 25)):
            stream = io.StringIO()
            pstats.Stats(profiler, stream=stream).sort_stats(order).print_stats(lines)
            print(stream.getvalue())
        profiler.dump_stats("block_building.prof")
        print("profile written to block_building.prof")
    wall = result.submit_wall + result.build_wall
    cpu = result.submit_cpu + result.build_cpu
    print(
        f"RESULT tx_per_s={count / wall:.1f} build_tx_per_s={count / result.build_wall:.1f} "
        f"submit_tx_per_s={count / result.submit_wall:.1f} cpu_tx_per_s={count / cpu:.1f} "
        f"cpu_build_tx_per_s={count / result.build_cpu:.1f} "
        f"blocks={result.blocks} transactions={count}"
    )


def main() -> None:
    """Run the benchmark and print RESULT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--gas-limit", type=int, default=30_000_000)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    profiler = cProfile.Profile() if options.profile else None
    report(run(options, profiler), profiler)


def _call_of(signed: Any) -> CallRequest:
    return CallRequest(
        sender=Address(signed.sender), to=Address(bytes(signed.tx.to)), data=bytes(signed.tx.data)
    )


if __name__ == "__main__":
    main()
