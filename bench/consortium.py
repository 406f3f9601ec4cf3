"""Consortium benchmark: the throughput workload against four QBFT validators, and against one.

Runs bench/throughput.py's workload (its `run`: deploy the point contract, presign N grant/redeem
calls, send them in JSON-RPC batches, time each from submission to the new head that holds it,
check every receipt) twice in one go, on this machine:

1. a single-validator node (`mykey node run` on a dev data dir, as throughput.py starts it);
2. a consortium made by `mykey net init`'s code with four validators, each a separate
   `python -m node.consortium_cli` process on loopback over TLS; transactions go to one node's
   JSON-RPC and reach the others by gossip; a block is final once a quorum (3) committed it.

Both use a 1 s block period and the same block gas limit. It prints both figures and, last,
`RESULT tx_per_s=… p50_ms=… p99_ms=…` for the four-validator network (submit to finalized).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.throughput import BENCH_GAS_LIMIT, Client, start_node
from bench.throughput import run as run_workload
from network.cli import InitOptions, OrganisationSpec, init_consortium
from network.genesis import consortium_genesis
from network.identity import NodeAddress
from network.settings import load_settings

REPOSITORY = Path(__file__).resolve().parent.parent
CHAIN_ID = 1337


def free_ports(count: int) -> list[int]:
    """Return `count` distinct loopback ports free right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for item in sockets:
            item.bind(("127.0.0.1", 0))
        return [item.getsockname()[1] for item in sockets]
    finally:
        for item in sockets:
            item.close()


def make_network(folder: Path, validators: int) -> list[Path]:
    """Write a consortium of `validators` with the benchmark's gas limit; return the datadirs.

    Every node gets a free loopback peer port; JSON-RPC ports are chosen at start (port 0).
    """
    nodes = init_consortium(
        InitOptions(
            folder=folder,
            organisations=tuple(
                OrganisationSpec.parse(f"validator{index + 1}") for index in range(validators)
            ),
            chain_id=CHAIN_ID,
            host="127.0.0.1",
            p2p_port=40000,
            rpc_port=40100,
            block_period_seconds=1,
            request_timeout_seconds=4,
        )
    )
    document = consortium_genesis(
        chain_id=CHAIN_ID,
        validators=[NodeAddress(node.address) for node in nodes],
        block_period_seconds=1,
        request_timeout_seconds=4,
        gas_limit=BENCH_GAS_LIMIT,
    )
    text = json.dumps(document, indent=2) + "\n"
    for path in [folder, *(node.datadir for node in nodes)]:
        (path / "genesis.json").write_text(text, encoding="utf-8")
    ports = dict(zip([node.address for node in nodes], free_ports(len(nodes)), strict=True))
    for node in nodes:
        settings = load_settings(node.datadir)
        peers = tuple(replace(peer, port=ports[peer.address]) for peer in settings.peers)
        replace(settings, port=ports[node.address], peers=peers).save(node.datadir)
    return [node.datadir for node in nodes]


def start_consortium_node(datadir: Path) -> tuple[subprocess.Popen[str], str, str]:
    """Start one consortium node; return it with its JSON-RPC HTTP and WS URLs."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node.consortium_cli",
            "--datadir",
            str(datadir),
            "--http-port",
            "0",
            "--ws-port",
            "0",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
    )
    urls: dict[str, str] = {}
    assert process.stdout is not None
    while "p2p" not in urls:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"{datadir.name} exited with {process.wait()} before listening")
        if line.startswith("JSON-RPC HTTP: "):
            urls["http"] = line.split(": ", 1)[1].strip()
        elif line.startswith("JSON-RPC WS: "):
            urls["ws"] = line.split(": ", 1)[1].strip()
        elif line.startswith("P2P: "):
            urls["p2p"] = line.split(": ", 1)[1].strip()
    return process, urls["http"], urls["ws"]


def stop(processes: list[subprocess.Popen[str]]) -> None:
    """SIGINT every process, then wait (SIGKILL after 60 s)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def wait_for_blocks(http_url: str, count: int, timeout: float = 120.0) -> None:
    """Wait until the network finalized `count` blocks (all validators connected by then)."""
    client = Client(http_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(client.call("eth_blockNumber"), 16) >= count:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the consortium did not finalize {count} blocks in {timeout} s")


def single_validator(count: int, batch: int, senders: int) -> tuple[float, float, float]:
    """Run the workload on one dev validator; return (tx/s, p50 ms, p99 ms)."""
    datadir = Path(tempfile.mkdtemp(prefix="qbft-single-bench-"))
    process, http_url, ws_url = start_node(datadir, None)
    try:
        return run_workload(http_url, ws_url, count, batch, senders)
    finally:
        stop([process])
        shutil.rmtree(datadir, ignore_errors=True)


def four_validators(
    count: int, batch: int, senders: int, validators: int
) -> tuple[float, float, float]:
    """Run the workload on a consortium of `validators`; return (tx/s, p50 ms, p99 ms)."""
    folder = Path(tempfile.mkdtemp(prefix="qbft-consortium-bench-"))
    processes: list[subprocess.Popen[str]] = []
    try:
        datadirs = make_network(folder / "net", validators)
        urls = []
        for datadir in datadirs:
            process, http_url, ws_url = start_consortium_node(datadir)
            processes.append(process)
            urls.append((http_url, ws_url))
        wait_for_blocks(urls[0][0], 2)
        return run_workload(urls[0][0], urls[0][1], count, batch, senders)
    finally:
        stop(processes)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--transactions", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=250, help="transactions per JSON-RPC batch")
    parser.add_argument("--senders", type=int, default=250, help="distinct sending accounts")
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--skip-single", action="store_true", help="only the consortium figure")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if not args.skip_single:
        single = single_validator(args.transactions, args.batch, args.senders)
        print(
            f"single validator: tx_per_s={single[0]:.1f} p50_ms={single[1]:.1f} "
            f"p99_ms={single[2]:.1f}",
            flush=True,
        )
    result = four_validators(args.transactions, args.batch, args.senders, args.validators)
    print(
        f"{args.validators} validators: tx_per_s={result[0]:.1f} p50_ms={result[1]:.1f} "
        f"p99_ms={result[2]:.1f}",
        flush=True,
    )
    print(f"RESULT tx_per_s={result[0]:.1f} p50_ms={result[1]:.1f} p99_ms={result[2]:.1f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
