"""Start `mykey node run` as a real process on LevelDB in a temp dir, for the real-process tests.

The node binds port 0 and prints its URLs on stdout; `NodeProcess` reads them, so parallel test
runs never fight over ports. Stopping sends SIGTERM and waits for a clean exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import rlp

from node.devmode import DEV_VALIDATOR_PATH, derive_dev_key, dev_accounts, dev_genesis
from node.genesis import create_node_key, node_address

ROOT = Path(__file__).resolve().parents[2]


def mykey(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run `mykey ...` (as `python -m mykey_cli`) to completion."""
    return subprocess.run(
        [sys.executable, "-m", "mykey_cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_dev_genesis(directory: Path, datadir: Path, gas_limit: int = 30_000_000) -> Path:
    """Create the dev validator key in `datadir` and a genesis naming it; return its path."""
    key = create_node_key(datadir, derive_dev_key(DEV_VALIDATOR_PATH))
    genesis = dev_genesis(node_address(key), dev_accounts(), gas_limit=gas_limit)
    path = directory / "genesis.json"
    path.write_text(json.dumps(genesis), encoding="utf-8")
    return path


class NodeProcess:
    """A running `mykey node run` child process and its URLs."""

    def __init__(self, datadir: Path, *extra: str) -> None:
        command = [sys.executable, "-m", "mykey_cli", "node", "run", "--datadir", str(datadir)]
        command += ["--http-port", "0", "--ws-port", "0", *extra]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        urls: dict[str, str] = {}
        assert self.process.stdout is not None
        while len(urls) < 2:
            line = self.process.stdout.readline()
            if not line:
                _, errors = self.process.communicate(timeout=30)
                raise RuntimeError(f"node exited early ({self.process.returncode}): {errors}")
            key, _, value = line.partition(": ")
            if key in {"JSON-RPC HTTP", "JSON-RPC WS"}:
                urls[key] = value.strip()
        self.http_url = urls["JSON-RPC HTTP"]
        self.ws_url = urls["JSON-RPC WS"]

    def stop(self) -> tuple[int, str]:
        """SIGTERM the node; return its exit code and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, errors = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, errors = self.process.communicate()
        return self.process.returncode, errors


def replace_signature(raw: bytes, **changes: int) -> bytes:
    """Return a typed (EIP-2718) transaction with its y_parity/r/s fields replaced."""
    fields: list[Any] = rlp.decode(raw[1:])
    positions = {"y_parity": -3, "r": -2, "s": -1}
    for name, value in changes.items():
        fields[positions[name]] = value
    encoded: bytes = rlp.encode(fields)
    return raw[:1] + encoded
