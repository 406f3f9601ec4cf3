"""`mykey dev` and `start_embedded`: the dev accounts, the throwaway data dir, a clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from node.devmode import DEV_CHAIN_ID, dev_accounts, start_embedded
from tests.rpc.nodeproc import ROOT

HARDHAT_FIRST = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
)
"""Hardhat's and Anvil's well-known first test account (public, throwaway)."""


def post(url: str, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(  # noqa: S310
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())["result"]


def test_dev_accounts_are_hardhats() -> None:
    accounts = dev_accounts()
    assert len(accounts) == 10
    assert (accounts[0].address, accounts[0].private_key) == HARDHAT_FIRST
    assert len({account.address for account in accounts}) == 10


def test_start_embedded_serves_funded_accounts_and_mines(tmp_path: Path) -> None:
    with start_embedded(tmp_path / "dev") as node:
        assert node.http_url.startswith("http://127.0.0.1:")
        assert node.ws_url.startswith("ws://127.0.0.1:")
        assert post(node.http_url, "eth_chainId") == hex(DEV_CHAIN_ID) == hex(node.chain_id)
        first = node.dev_accounts[0]
        assert int(post(node.http_url, "eth_getBalance", first.address, "latest"), 16) > 0
        signed = Account.sign_transaction(
            {
                "type": 2,
                "chainId": DEV_CHAIN_ID,
                "nonce": 0,
                "to": node.dev_accounts[1].address,
                "value": 5,
                "gas": 21_000,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
            },
            first.private_key,
        )
        tx_hash = post(node.http_url, "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
        receipt = None
        deadline = time.monotonic() + 30
        while receipt is None and time.monotonic() < deadline:
            time.sleep(0.1)  # a real node with a 1 s block period: poll as a client would
            receipt = post(node.http_url, "eth_getTransactionReceipt", tx_hash)
        assert receipt is not None and receipt["status"] == "0x1"
    # The same data dir reopens with the chain kept (the datadir is the caller's, not throwaway).
    with start_embedded(tmp_path / "dev") as again:
        assert int(post(again.http_url, "eth_blockNumber"), 16) >= 1


def test_mykey_dev_prints_urls_and_keys_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mykey_cli",
            "dev",
            "--http-port",
            "0",
            "--ws-port",
            "0",
            "--api-port",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    while not any("Ctrl-C" in line for line in lines):
        line = process.stdout.readline()
        assert line, process.communicate(timeout=30)
        lines.append(line)
    banner = "".join(lines)
    url = re.search(r"JSON-RPC HTTP: (\S+)", banner)
    datadir = re.search(r"data dir:\s+(\S+)", banner)
    assert url is not None and datadir is not None
    assert "THROWAWAY TEST KEYS" in banner
    assert HARDHAT_FIRST[0] in banner and HARDHAT_FIRST[1] in banner
    assert post(url.group(1), "net_version") == str(DEV_CHAIN_ID)
    process.send_signal(signal.SIGINT)
    out, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
    assert "stopped" in out
    assert not Path(datadir.group(1)).exists()


def test_start_embedded_on_a_busy_port_fails_and_releases_the_ledger(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=r"failed to start"):
            start_embedded(tmp_path / "dev", http_port=port)
    # LevelDB's lock was released: the same data dir opens again.
    with start_embedded(tmp_path / "dev") as node:
        assert post(node.http_url, "eth_blockNumber") == "0x0"
