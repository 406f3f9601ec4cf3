"""Throughput benchmark: presigned point-contract transactions through JSON-RPC, to receipts.

By default it makes a throwaway data dir (one dev validator, dev accounts funded, a large block
gas limit), starts `mykey node run` on it as a separate process (so client and node do not share
a GIL), deploys the point contract below, presigns N `grant`/`redeem` calls spread over the dev
accounts, sends them in JSON-RPC batches, and follows new heads over WebSocket to time each
transaction from submission to its block. After timing it fetches every receipt and checks that
every status is 1. With `--rpc URL` it uses a running node instead (its funded dev accounts).

The last line printed is `RESULT tx_per_s=<float> p50_ms=<float> p99_ms=<float>`.
`--profile-node FILE` runs the node under cProfile and writes its stats to FILE.

The contract (solc 0.8.37, evmVersion prague, optimizer 200 runs):

    contract Points {
        mapping(uint32 => mapping(bytes8 => uint256)) public balanceOf;
        event Granted(uint32 indexed municipality, bytes8 indexed mykeyId, uint256 amount);
        event Redeemed(uint32 indexed municipality, bytes8 indexed mykeyId, uint256 amount);
        function grant(uint32 municipality, bytes8 mykeyId, uint256 amount) external {
            balanceOf[municipality][mykeyId] += amount;
            emit Granted(municipality, mykeyId, amount);
        }
        function redeem(uint32 municipality, bytes8 mykeyId, uint256 amount) external {
            uint256 balance = balanceOf[municipality][mykeyId];
            require(balance >= amount, "not enough points");
            balanceOf[municipality][mykeyId] = balance - amount;
            emit Redeemed(municipality, mykeyId, amount);
        }
    }
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address
from websockets.sync.client import connect

from node.devmode import dev_accounts, init_dev_datadir

GRANT = keccak(b"grant(uint32,bytes8,uint256)")[:4]
REDEEM = keccak(b"redeem(uint32,bytes8,uint256)")[:4]
BENCH_GAS_LIMIT = 1_000_000_000
TX_GAS = 120_000
MUNICIPALITIES = (14130, 13116, 27100, 1100)


@dataclass
class Timing:
    """When each transaction was sent and when its block was seen."""

    sent: dict[str, float]
    mined: dict[str, float]


def rpc_post(connection: http.client.HTTPConnection, path: str, payload: Any) -> Any:
    """POST one JSON-RPC body on a keep-alive connection; return the decoded answer."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    connection.request("POST", path, body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    raw = response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {raw[:200]!r}")
    return json.loads(raw)


class Client:
    """A tiny JSON-RPC client (no web3.py, so the client side costs little)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def call(self, method: str, *params: Any) -> Any:
        answer = rpc_post(
            self.connection,
            self.path,
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
        )
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def batch(self, method: str, params_list: list[list[Any]]) -> list[Any]:
        payload = [
            {"jsonrpc": "2.0", "id": index, "method": method, "params": params}
            for index, params in enumerate(params_list)
        ]
        answers = rpc_post(self.connection, self.path, payload)
        answers.sort(key=lambda item: item["id"])
        return list(answers)

    def wait_receipt(self, tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            receipt = self.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return dict(receipt)
            time.sleep(0.05)
        raise TimeoutError(f"no receipt for {tx_hash} within {timeout} s")


def load_points_artifact() -> dict[str, Any]:
    """Return the point contract's artifact (abi, bytecode) kept next to this script."""
    path = Path(__file__).with_name("points_contract.json")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def sign(key: bytes, chain_id: int, nonce: int, *, to: str | None, data: bytes, gas: int) -> bytes:
    """Return a signed EIP-1559 transaction with zero fees (a zero-gas-price network)."""
    fields: dict[str, Any] = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "gas": gas,
        "value": 0,
        "data": data,
    }
    if to is not None:
        fields["to"] = to
    return bytes(Account.sign_transaction(fields, key).raw_transaction)


def presign(
    keys: list[bytes], chain_id: int, nonces: list[int], contract: str, count: int
) -> list[tuple[str, str]]:
    """Return (raw hex, hash hex) for `count` calls: per sender, three grants then a redeem."""
    signed: list[tuple[str, str]] = []
    per_sender = [0] * len(keys)
    for index in range(count):
        sender = index % len(keys)
        step = per_sender[sender]
        per_sender[sender] += 1
        municipality = MUNICIPALITIES[step % len(MUNICIPALITIES)]
        mykey_id = f"B{sender:02d}{step // 4:05d}".encode()[:8].ljust(8, b"0")
        if step % 4 == 3:
            previous = MUNICIPALITIES[(step - 1) % len(MUNICIPALITIES)]
            call = REDEEM + abi_encode(["uint32", "bytes8", "uint256"], [previous, mykey_id, 40])
        else:
            call = GRANT + abi_encode(
                ["uint32", "bytes8", "uint256"], [municipality, mykey_id, 100]
            )
        raw = sign(
            keys[sender], chain_id, nonces[sender] + step, to=contract, data=call, gas=TX_GAS
        )
        signed.append(("0x" + raw.hex(), "0x" + keccak(raw).hex()))
    return signed


def follow_heads(
    ws_url: str,
    http_url: str,
    *,
    timing: Timing,
    expected: int,
    done: threading.Event,
    ready: threading.Event,
) -> None:
    """Record when each benchmark transaction's block arrives (newHeads over WebSocket)."""
    client = Client(http_url)
    with connect(ws_url, max_size=None) as socket:
        socket.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            )
        )
        json.loads(socket.recv(timeout=30))
        ready.set()
        while len(timing.mined) < expected:
            message = json.loads(socket.recv(timeout=120))
            seen = time.perf_counter()
            number = message["params"]["result"]["number"]
            block = client.call("eth_getBlockByNumber", number, False)
            for tx_hash in block["transactions"]:
                timing.mined[tx_hash] = seen
    done.set()


def send_all(
    client: Client, signed: list[tuple[str, str]], batch_size: int, timing: Timing
) -> None:
    """Send every presigned transaction in batches; raise on any rejection."""
    for start in range(0, len(signed), batch_size):
        chunk = signed[start : start + batch_size]
        now = time.perf_counter()
        for _, tx_hash in chunk:
            timing.sent[tx_hash] = now
        answers = client.batch("eth_sendRawTransaction", [[raw] for raw, _ in chunk])
        for answer in answers:
            if "error" in answer:
                raise RuntimeError(f"transaction rejected: {answer['error']}")


def start_node(datadir: Path, profile: Path | None) -> tuple[subprocess.Popen[str], str, str]:
    """Initialise a bench data dir and start `mykey node run` on free ports."""

    init_dev_datadir(datadir, dev_accounts(), gas_limit=BENCH_GAS_LIMIT)
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += [
        "-m",
        "mykey_cli",
        "node",
        "run",
        "--datadir",
        str(datadir),
        "--http-port",
        "0",
        "--ws-port",
        "0",
        "--log-level",
        "WARNING",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent
    )
    urls: dict[str, str] = {}
    assert process.stdout is not None
    while len(urls) < 2:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the node exited with {process.wait()} before listening")
        if line.startswith("JSON-RPC HTTP: "):
            urls["http"] = line.split(": ", 1)[1].strip()
        elif line.startswith("JSON-RPC WS: "):
            urls["ws"] = line.split(": ", 1)[1].strip()
    return process, urls["http"], urls["ws"]


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_keys(count: int) -> list[bytes]:
    """Return `count` throwaway sender keys (zero gas price: they need no funds)."""
    return [keccak(f"mykey bench sender {index}".encode()) for index in range(count)]


def run(
    http_url: str, ws_url: str, count: int, batch_size: int, senders: int
) -> tuple[float, float, float]:
    """Deploy, presign, send, time, verify; return (tx/s, p50 ms, p99 ms)."""

    client = Client(http_url)
    chain_id = int(client.call("eth_chainId"), 16)
    deployer = bytes.fromhex(dev_accounts(1)[0].private_key[2:])
    keys = bench_keys(senders)
    addresses = [Account.from_key(key).address for key in [deployer, *keys]]
    pending = [
        int(count_hex, 16)
        for count_hex in (
            answer["result"]
            for answer in client.batch(
                "eth_getTransactionCount", [[address, "pending"] for address in addresses]
            )
        )
    ]
    deployer_nonce, nonces = pending[0], pending[1:]
    artifact = load_points_artifact()
    bytecode = bytes.fromhex(artifact["bytecode"][2:])
    deploy = sign(deployer, chain_id, deployer_nonce, to=None, data=bytecode, gas=1_000_000)
    receipt = client.wait_receipt(client.call("eth_sendRawTransaction", "0x" + deploy.hex()))
    if receipt["status"] != "0x1":
        raise RuntimeError(f"point contract deployment failed: {receipt}")
    contract = to_checksum_address(receipt["contractAddress"])
    started = time.perf_counter()
    signed = presign(keys, chain_id, nonces, contract, count)
    print(f"presigned {count} transactions in {time.perf_counter() - started:.1f} s", flush=True)

    timing = Timing(sent={}, mined={})
    done, ready = threading.Event(), threading.Event()
    follower = threading.Thread(
        target=follow_heads,
        args=(ws_url, http_url),
        kwargs={"timing": timing, "expected": count, "done": done, "ready": ready},
        daemon=True,
    )
    follower.start()
    ready.wait(30)
    first_sent = time.perf_counter()
    send_all(client, signed, batch_size, timing)
    sent_all = time.perf_counter()
    if not done.wait(max(120.0, count / 50)):
        raise TimeoutError(f"only {len(timing.mined)} of {count} transactions mined in time")
    hashes = [tx_hash for _, tx_hash in signed]
    last_mined = max(timing.mined[tx_hash] for tx_hash in hashes)
    elapsed = last_mined - first_sent
    latencies = [(timing.mined[h] - timing.sent[h]) * 1000 for h in hashes]
    failed = 0
    for start in range(0, count, batch_size):
        chunk = hashes[start : start + batch_size]
        for answer in client.batch("eth_getTransactionReceipt", [[h] for h in chunk]):
            result = answer.get("result")
            if result is None or result["status"] != "0x1":
                failed += 1
    if failed:
        raise RuntimeError(f"{failed} of {count} transactions did not succeed")
    print(
        f"sent {count} in {sent_all - first_sent:.2f} s (batches of {batch_size}); "
        f"all mined {elapsed:.2f} s after the first was sent; all {count} receipts status 1"
    )
    print(f"latency mean {statistics.fmean(latencies):.0f} ms, max {max(latencies):.0f} ms")
    return count / elapsed, percentile(latencies, 0.50), percentile(latencies, 0.99)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--transactions", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=250, help="transactions per JSON-RPC batch")
    parser.add_argument("--senders", type=int, default=250, help="distinct sending accounts")
    parser.add_argument("--rpc", help="use a running node at this HTTP URL (dev accounts funded)")
    parser.add_argument("--ws", help="its WebSocket URL (default: the HTTP URL, upgraded)")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway data dir")
    parser.add_argument("--profile-node", type=Path, help="write the node's cProfile stats here")
    args = parser.parse_args(argv)
    # SIGTERM (e.g. from `timeout`) must still run the finally below, which stops the node.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    process: subprocess.Popen[str] | None = None
    datadir: Path | None = None
    if args.rpc:
        http_url = args.rpc
        ws_url = args.ws or "ws" + http_url[len("http") :]
    else:
        datadir = Path(tempfile.mkdtemp(prefix="mykey-bench-"))
        process, http_url, ws_url = start_node(datadir, args.profile_node)
        print(f"node on {http_url} with data in {datadir}", flush=True)
    try:
        tx_per_s, p50, p99 = run(http_url, ws_url, args.transactions, args.batch, args.senders)
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        if datadir is not None and not args.keep:
            shutil.rmtree(datadir, ignore_errors=True)
    print(f"RESULT tx_per_s={tx_per_s:.1f} p50_ms={p50:.1f} p99_ms={p99:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
