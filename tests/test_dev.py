"""`mykey dev` as a person runs it: a real process, the contracts and demo consortium, Ctrl-C.

With a kept data dir a second start loads the saved deployment instead of deploying again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
FREE_PORTS = ("--http-port", "0", "--ws-port", "0", "--api-port", "0")
DEV_COMMAND = [sys.executable, "-m", "mykey_cli", "dev", *FREE_PORTS]


def rpc(url: str, method: str, *params: object) -> object:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    return httpx.post(url, json=body, timeout=30).json()["result"]


def run_dev_until_ready(datadir: Path) -> tuple[subprocess.Popen[str], str]:
    """Start `mykey dev` and return it with everything it printed up to "Press Ctrl-C"."""
    process = subprocess.Popen(
        [*DEV_COMMAND, "--datadir", str(datadir)],
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
    return process, "".join(lines)


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    out, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
    return out


def test_mykey_dev_deploys_the_demo_consortium_and_reuses_it(tmp_path: Path) -> None:
    datadir = tmp_path / "dev"
    process, banner = run_dev_until_ready(datadir)
    try:
        url = re.search(r"JSON-RPC HTTP: (\S+)", banner)
        assert url is not None
        addresses = dict(
            re.findall(r"^\s+(PointLedger|Consortium)\s+(0x[0-9a-fA-F]{40})", banner, re.M)
        )
        assert set(addresses) == {"PointLedger", "Consortium"}
        for address in addresses.values():
            assert len(str(rpc(url.group(1), "eth_getCode", address, "latest"))) > 2
        # The deck's ledger row A01: 4,000 points in Kawasaki, 5,000 in Toshima.
        assert "DEMOA001: 14130 Kawasaki 4,000, 13116 Toshima 5,000" in banner
        assert "THROWAWAY TEST KEYS" in banner
        head = int(str(rpc(url.group(1), "eth_blockNumber")), 16)
        # The API and pages run beside the node, with the demo staff able to log in.
        api = re.search(r"API and pages: (\S+)", banner)
        assert api is not None
        assert httpx.get(f"{api.group(1)}/health", timeout=30).json()["status"] == "ok"
        assert httpx.get(f"{api.group(1)}/explorer", timeout=30).status_code == 200
        login = httpx.post(
            f"{api.group(1)}/staff/sessions",
            json={"login_name": "kawasaki.treasurer", "password": "demo-staff-pass"},
            timeout=30,
        )
        assert login.status_code == 201 and login.json()["role"] == "treasurer"
    finally:
        assert "stopped" in stop(process)
    assert (datadir / "deployment.json").exists()

    process, again = run_dev_until_ready(datadir)
    try:
        url = re.search(r"JSON-RPC HTTP: (\S+)", again)
        assert url is not None
        # Same contracts, no new deployment: the chain only grew by what was already there.
        assert f"PointLedger    {addresses['PointLedger']}" in again
        assert int(str(rpc(url.group(1), "eth_blockNumber")), 16) == head
    finally:
        stop(process)
