"""Real consortium nodes as separate processes on loopback, for the integration tests and bench.

`make_consortium` writes a consortium with `network.cli.init_consortium` and then gives every node
free loopback ports (so two test runs never collide); `NodeProcess` runs
`mykey node run` on one data directory, reads its bound ports from stdout, talks
JSON-RPC to it, and stops it with SIGTERM or kills it with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from network.cli import InitOptions, OrganisationSpec, init_consortium
from network.config import PeerEndpoint
from network.pki import Role
from network.settings import load_settings

REPOSITORY = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


def free_ports(count: int) -> list[int]:
    """Return `count` distinct loopback ports free right now (bound to port 0, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for item in sockets:
            item.bind(("127.0.0.1", 0))
        return [item.getsockname()[1] for item in sockets]
    finally:
        for item in sockets:
            item.close()


@dataclass(frozen=True)
class ConsortiumNodeDir:
    """One organisation's data directory and node address."""

    name: str
    datadir: Path
    address: bytes
    role: Role


def make_consortium(
    folder: Path,
    organisations: list[str],
    *,
    block_period: int = 1,
    request_timeout: int = 1,
    chain_id: int = 1337,
) -> list[ConsortiumNodeDir]:
    """Write a consortium (`NAME` or `NAME:member`) with free p2p ports; return its nodes."""
    nodes = init_consortium(
        InitOptions(
            folder=folder,
            organisations=tuple(OrganisationSpec.parse(text) for text in organisations),
            chain_id=chain_id,
            host="127.0.0.1",
            p2p_port=40000,
            rpc_port=40100,
            block_period_seconds=block_period,
            request_timeout_seconds=request_timeout,
        )
    )
    ports = dict(zip([node.address for node in nodes], free_ports(len(nodes)), strict=True))
    for node in nodes:
        settings = load_settings(node.datadir)
        peers = tuple(replace(peer, port=ports[peer.address]) for peer in settings.peers)
        replace(settings, port=ports[node.address], peers=peers).save(node.datadir)
    return [
        ConsortiumNodeDir(node.datadir.name, node.datadir, bytes(node.address), node.role)
        for node in nodes
    ]


def add_static_peer(datadir: Path, peer: PeerEndpoint) -> None:
    """Make the node in `datadir` dial `peer` too."""
    settings = load_settings(datadir)
    replace(settings, peers=(*settings.peers, peer)).save(datadir)


def p2p_endpoint(node: ConsortiumNodeDir) -> PeerEndpoint:
    """Return where `node` listens for peers."""
    from network.identity import NodeAddress

    settings = load_settings(node.datadir)
    return PeerEndpoint(address=NodeAddress(node.address), host="127.0.0.1", port=settings.port)


@dataclass
class NodeProcess:
    """`mykey node run` on one consortium data directory (it runs in consortium mode)."""

    node: ConsortiumNodeDir
    process: subprocess.Popen[str] | None = None
    http_url: str = ""
    admin_url: str = ""
    log_lines: list[str] = field(default_factory=list)
    _stderr_thread: threading.Thread | None = None

    @property
    def address(self) -> bytes:
        """The node's address."""
        return self.node.address

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and wait until it prints its JSON-RPC URL and P2P endpoint."""
        environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mykey_cli",
                "node",
                "run",
                "--datadir",
                str(self.node.datadir),
                "--http-port",
                "0",
                "--ws-port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPOSITORY,
            env=environment,
        )
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(
                    f"{self.node.name} exited early:\n" + "\n".join(self.log_lines[-30:])
                )
            if line.startswith("JSON-RPC HTTP: "):
                self.http_url = line.split(": ", 1)[1].strip()
            if line.startswith("QBFT admin: "):
                self.admin_url = line.split(": ", 1)[1].strip()
            if line.startswith("P2P: "):
                return
        raise TimeoutError(f"{self.node.name} did not start within {timeout} s")

    def _drain_stderr(self) -> None:
        process = self.process
        assert process is not None and process.stderr is not None
        for line in process.stderr:
            self.log_lines.append(line.rstrip("\n"))

    def logs_contain(self, text: str) -> bool:
        """Return True when a log line so far contains `text`."""
        return any(text in line for line in list(self.log_lines))

    def rpc(self, method: str, params: list[Any] | None = None, timeout: float = 10.0) -> Any:
        """Call JSON-RPC `method`; return its result; raise RuntimeError on an error reply."""
        return self._call(self.http_url, {}, method, params, timeout)

    def admin(self, method: str, params: list[Any] | None = None, timeout: float = 10.0) -> Any:
        """Call a method of the admin endpoint with the token from the data directory."""
        token = (self.node.datadir / "keys" / "admin.token").read_text(encoding="ascii").strip()
        headers = {"Authorization": f"Bearer {token}"}
        return self._call(self.admin_url, headers, method, params, timeout)

    def _call(
        self,
        url: str,
        headers: dict[str, str],
        method: str,
        params: list[Any] | None,
        timeout: float,
    ) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"{self.node.name} has no loopback URL for {method} yet")
        request = urllib.request.Request(  # noqa: S310 (checked: http on loopback)
            url, body.encode(), {"Content-Type": "application/json", **headers}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            reply = json.loads(response.read())
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def head(self) -> int:
        """Return the node's head block number."""
        return int(self.rpc("eth_blockNumber"), 16)

    def block_hash(self, number: int) -> str | None:
        """Return the hash of block `number`, or None."""
        block = self.rpc("eth_getBlockByNumber", [hex(number), False])
        return None if block is None else str(block["hash"])

    def kill(self) -> None:
        """SIGKILL the process (a crash) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM the process and wait for a clean exit (SIGKILL after 30 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.25
) -> None:
    """Poll `condition` until true; raise AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, RuntimeError):
            pass  # a node still starting or just killed: poll again
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start_all(processes: list[NodeProcess]) -> None:
    """Start processes in parallel (each start waits for its ports)."""
    errors: list[BaseException] = []

    def run(item: NodeProcess) -> None:
        try:
            item.start()
        except BaseException as error:  # re-raised below on the test thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(item,)) for item in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
