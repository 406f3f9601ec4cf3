"""`mykey net up`: run every node of a consortium folder as its own process on loopback.

`up(folder, validators)` makes the consortium first when the folder is new (`mykey net init`'s
code, `validators` validator organisations), then starts `python -m node.consortium_cli` on each
data directory, prints each node's JSON-RPC and admin endpoints, and waits until Ctrl-C (SIGINT)
or SIGTERM; then it stops every node with SIGTERM (SIGKILL after a grace period) and waits for
them, so no node outlives the command. A node that exits on its own is reported with the last
lines of its log, and the others are stopped too.

Each node's log goes to `<datadir>/node.log`. Runnable as `python -m node.consortium_up FOLDER`.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from network.cli import InitError, InitOptions, OrganisationSpec, init_consortium
from network.settings import SETTINGS_FILE

STOP_GRACE_SECONDS = 30.0
START_TIMEOUT_SECONDS = 120.0
LOG_FILE = "node.log"


class UpError(Exception):
    """A node could not be started; the message names it and says why."""


@dataclass
class RunningNode:
    """One node process and the endpoints it printed."""

    datadir: Path
    process: subprocess.Popen[str]
    log: IO[str]
    endpoints: dict[str, str]


def consortium_datadirs(folder: Path) -> list[Path]:
    """Return the data directories (with network.toml) under `folder`, sorted."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / SETTINGS_FILE).exists())


def ensure_consortium(folder: Path, validators: int) -> list[Path]:
    """Return the folder's data directories, making a consortium there first if it has none."""
    existing = consortium_datadirs(folder)
    if existing:
        return existing
    init_consortium(
        InitOptions(
            folder=folder,
            organisations=tuple(
                OrganisationSpec.parse(f"node{index + 1}") for index in range(validators)
            ),
            chain_id=1337,
            host="127.0.0.1",
            p2p_port=30303,
            rpc_port=8545,
            block_period_seconds=1,
            request_timeout_seconds=4,
        )
    )
    return consortium_datadirs(folder)


def start_node(datadir: Path) -> RunningNode:
    """Start one node; return once it printed its endpoints. Raises UpError."""
    log = (datadir / LOG_FILE).open("a", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "mykey_cli", "node", "run", "--datadir", str(datadir)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    endpoints: dict[str, str] = {}
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while "P2P" not in endpoints:
        line = process.stdout.readline()
        if not line or time.monotonic() > deadline:
            process.kill()
            process.wait()
            log.close()
            raise UpError(f"{datadir.name} did not start; see {datadir / LOG_FILE}")
        name, _, value = line.partition(": ")
        endpoints[name] = value.strip()
    # keep reading stdout so the node never blocks on a full pipe
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return RunningNode(datadir, process, log, endpoints)


def stop_nodes(nodes: list[RunningNode]) -> None:
    """SIGTERM every node, wait for all (SIGKILL after the grace period)."""
    for node in nodes:
        if node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
    for node in nodes:
        try:
            node.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
        node.log.close()


def up(folder: Path, validators: int) -> int:
    """Run the consortium in `folder` until a signal; return the exit code."""
    try:
        datadirs = ensure_consortium(folder, validators)
    except InitError as error:
        print(f"mykey net up: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    nodes: list[RunningNode] = []
    try:
        for datadir in datadirs:
            nodes.append(start_node(datadir))
        for node in nodes:
            print(
                f"{node.datadir.name:<12} rpc {node.endpoints.get('JSON-RPC HTTP', '?')}  "
                f"admin {node.endpoints.get('QBFT admin', '?')}  p2p {node.endpoints['P2P']}",
                flush=True,
            )
        print(f"{len(nodes)} nodes running; logs in <datadir>/{LOG_FILE}; Ctrl-C stops them")
        while not stop.wait(0.5):
            gone = [node for node in nodes if node.process.poll() is not None]
            if gone:
                print(
                    f"mykey net up: {gone[0].datadir.name} exited; stopping the others "
                    f"(see {gone[0].datadir / LOG_FILE})",
                    file=sys.stderr,
                )
                return 1
        return 0
    except UpError as error:
        print(f"mykey net up: {error}", file=sys.stderr)
        return 1
    finally:
        stop_nodes(nodes)


def main(argv: list[str]) -> int:
    """Parse `FOLDER [-n N]` and run `up`."""
    parser = argparse.ArgumentParser(prog="mykey net up", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="consortium folder (made if it has no nodes)")
    parser.add_argument("-n", "--validators", type=int, default=4)
    args = parser.parse_args(argv)
    if args.validators < 1:
        print("mykey net up: -n must be at least 1", file=sys.stderr)
        return 1
    return up(args.folder, args.validators)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
