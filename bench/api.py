"""Benchmark: redemptions at point-use terminals through the API, card to final receipt.

Starts a throwaway dev node (LevelDB, in this process), deploys the demo consortium, serves the
API with uvicorn on 127.0.0.1 (a free port), registers residents with virtual My Number Cards
and grants them points through the API, then runs `--redemptions` redemptions from `--workers`
threads, each a signed terminal request to open the redemption plus the card's answer, which
the API settles on-chain and answers once the receipt is final. Latency is per redemption (open
+ answer); throughput is redemptions over the wall time of the run. Here the node, the API and
the clients share one Python process (and GIL); `python -m bench.api_split` runs the same load
with the node, the API and the clients in three processes, as deployed.

`--terminals N` spreads the workers over N point-use terminals of the demo store, each with its
own key (THROWAWAY TEST KEYS, registered on-chain by the store's admin during set-up and held by
the API, which sends each terminal's transactions from that terminal's account). The API keeps
one nonce counter and lock per sending account, held while a transaction is signed and handed
to the node (not while its receipt is awaited), so with one terminal those steps run one at a
time. Comparing `--terminals 1` with `--terminals 4` at the same `--redemptions` shows whether
that per-key serialisation limits throughput. `--block-period S` seals a block every S seconds
(under 1 s: sub-second blocks) instead of the dev default of 1 s; every redemption waits for
the block that makes it final, so the period bounds latency from below.

Run it as a module (its file name would shadow the `api` package as a script):
`.venv/bin/python -m bench.api [--redemptions N] [--workers W] [--terminals T]
[--block-period S]`. It prints how busy the machine was and the CPU the process used during
the redemptions, the parameters, and last `RESULT tx_per_s=<float> p50_ms=<float>
p99_ms=<float>`. The parts here (chain set-up, residents, the redemption load, the report) are
shared with bench.api_split.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import socket
import statistics
import string
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from eth_account import Account
from eth_typing import HexStr
from web3 import Web3

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.chain.config import ChainConfig
from api.chain.keys import load_key_ring, write_keystore
from api.chain.ledger import connect
from api.chain.side import build_chain_side
from api.clock import SystemClock
from api.passwords import PasswordService
from api.services.audit import SYSTEM_ACTOR
from api.services.staff import create_staff_account
from api.settings import ApiSettings, PasswordHashing
from api.store.database import open_store
from card_bridge.counter.signing import sign_request
from card_bridge.platform_checks.certificates import TrustConfiguration
from card_bridge.virtual_card.issuance import CardIssue, TestAuthority, issue_card
from contracts.client import LedgerClient
from contracts.demo import DemoConsortium, deploy_demo
from contracts.domain import TerminalKind
from contracts.transactions import address_of
from node.devmode import start_embedded

PASSWORD = "bench keystore password"  # noqa: S105 - throwaway test keys only
FAST = PasswordHashing(time_cost=1, memory_cost_kib=1024, parallelism=1)
STAFF_LOGIN = "bench.staff"
STAFF_PASSWORD = "bench passphrase 1"  # noqa: S105 - throwaway bench account
DEV_BLOCK_PERIOD_S = 1.0
"""The dev genesis's blockperiodseconds (node.devmode.dev_genesis), used without --block-period."""
KEYS_DIR = "keys"
STORE_DIR = "api"


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _answer(card: CardIssue, data: bytes) -> dict[str, str]:
    der = card.auth_certificate.public_bytes(serialization.Encoding.DER)
    signature = card.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return {
        "certificate": base64.b64encode(der).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def _terminal(http: httpx.Client, key: str, path: str, body: object) -> httpx.Response:
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = sign_request(
        Account.from_key(key), method="POST", path=path, body=raw, timestamp=int(time.time())
    ).as_dict()
    headers["Content-Type"] = "application/json"
    return http.post(path, content=raw, headers=headers)


def _register(http: httpx.Client, card: CardIssue) -> str:
    challenge = http.post("/registrations/card-challenges").json()
    opened = http.post(
        "/registrations",
        json={"challenge_id": challenge["challenge_id"]}
        | _answer(card, _b64url(challenge["challenge"])),
    ).json()
    mykey_id = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
    http.post(
        f"/registrations/{opened['registration_id']}/candidate-checks",
        json={"candidate": mykey_id},
    ).raise_for_status()
    http.post(
        f"/registrations/{opened['registration_id']}/completion",
        json={
            "password": "Abc12345",
            "password_confirmation": "Abc12345",
            "prefecture_code": "14",
            "municipality_code": "14130",
        },
    ).raise_for_status()
    return mykey_id


def _serve(app: object) -> tuple[uvicorn.Server, str, threading.Thread]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}", thread


def _store_terminals(w3: Web3, demo: DemoConsortium, count: int) -> list[str]:
    """Return `count` point-use terminal keys of the demo store, registering the extra ones.

    The first is the demo's own store terminal; the others are fresh throwaway test keys the
    store's admin registers on-chain (as a business registers its own terminals).
    """
    store = demo.businesses["store"]
    keys = [store.terminal_keys[TerminalKind.POINT_USE]]
    extra = ["0x" + secrets.token_hex(32) for _ in range(count - 1)]
    client = LedgerClient(w3, demo.deployment)
    for key in extra:
        client.register_terminal(store.admin_key, address_of(key), TerminalKind.POINT_USE)
    return keys + extra


@dataclass(frozen=True)
class BenchChain:
    """The deployed demo consortium as the API sees it, plus the store terminals' keys."""

    config: ChainConfig
    terminal_keys: list[str]
    """THROWAWAY TEST KEYS of the point-use terminals the load generator signs with."""
    municipality: int
    """Code of the municipality whose staff grant the residents their points."""


def prepare_chain(
    w3: Web3, rpc_url: str, deployer_key: str, keys_dir: Path, terminals: int
) -> BenchChain:
    """Deploy the demo consortium, register `terminals` store terminals, write the API's keys.

    The keystores under `keys_dir` (password PASSWORD) hold every key the API sends from:
    platform, verifier, the store terminals, and the granting municipality's admin and
    management terminal.
    """
    demo = deploy_demo(w3, deployer_key, gas_limit=3_000_000)
    terminal_keys = _store_terminals(w3, demo, terminals)
    kawasaki = demo.municipalities[next(iter(demo.municipalities))]
    for key in (
        demo.platform_key,
        demo.verifier_key,
        *terminal_keys,
        kawasaki.admin_key,
        kawasaki.management_terminal_key,
    ):
        write_keystore(keys_dir, key, PASSWORD, iterations=2)
    config = ChainConfig(
        rpc_url=rpc_url,
        deployment=demo.deployment,
        platform=address_of(demo.platform_key),
        verifier=address_of(demo.verifier_key),
        granting_terminals={int(kawasaki.code): address_of(kawasaki.management_terminal_key)},
    )
    return BenchChain(config, terminal_keys, int(kawasaki.code))


def bench_settings(workdir: Path) -> ApiSettings:
    """Return the API settings of a bench run (store under `workdir`/api, cheap hashing)."""
    return ApiSettings.for_data_dir(workdir / STORE_DIR, password_hashing=FAST)


def create_bench_staff(settings: ApiSettings, municipality: int) -> None:
    """Create the municipal staff account that grants the residents their points."""
    store = open_store(settings.database_url)
    try:
        with store.sessions() as db:
            create_staff_account(
                db=db,
                passwords=PasswordService(FAST),
                actor=SYSTEM_ACTOR,
                login_name=STAFF_LOGIN,
                password=STAFF_PASSWORD,
                role="municipal-staff",
                organisation=f"{municipality:05d}",
                now=int(time.time()),
            )
    finally:
        store.close()


def enrol_residents(
    http: httpx.Client, authority: TestAuthority, now: datetime, count: int
) -> list[CardIssue]:
    """Register `count` residents with fresh virtual cards, grant each 100,000 points.

    Runs `count` at a time, like the load; returns the cards (one per load worker).
    """
    token = http.post(
        "/staff/sessions", json={"login_name": STAFF_LOGIN, "password": STAFF_PASSWORD}
    ).json()["token"]
    cards = [issue_card(authority, now) for _ in range(count)]

    def setup(card: CardIssue) -> None:
        mykey_id = _register(http, card)
        http.post(
            "/grants",
            json={"mykey_id": mykey_id, "points": 100_000, "activity": "volunteering"},
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()

    with ThreadPoolExecutor(count) as pool:
        list(pool.map(setup, cards))
    return cards


@dataclass(frozen=True)
class Load:
    """What one redemption load measured."""

    latencies_ms: list[float]
    """Per redemption (open + card answer), sorted."""
    wall_s: float
    transaction_hashes: list[str]

    @property
    def tx_per_s(self) -> float:
        """Redemptions per second of wall time."""
        return len(self.latencies_ms) / self.wall_s

    @property
    def p50_ms(self) -> float:
        """Median latency."""
        return statistics.median(self.latencies_ms)

    @property
    def p99_ms(self) -> float:
        """99th percentile latency (nearest rank)."""
        ranked = self.latencies_ms
        return ranked[min(len(ranked) - 1, int(len(ranked) * 0.99))]


def redeem_all(
    http: httpx.Client, cards: list[CardIssue], terminal_keys: list[str], redemptions: int
) -> Load:
    """Run `redemptions` redemptions of 10 points from one thread per card; measure them.

    Card i always goes through terminal i mod len(terminal_keys), and each worker redeems with
    its own card, so no two requests race for one balance. Raises RuntimeError on a refusal.
    """
    transaction_hashes: list[str] = []  # list.append is atomic under the GIL

    def redeem(index: int) -> float:
        worker = index % len(cards)
        card = cards[worker]
        store_key = terminal_keys[worker % len(terminal_keys)]
        started = time.perf_counter()
        opened = _terminal(http, store_key, "/terminal/v1/redemptions", {"amount": 10})
        opened.raise_for_status()
        body = opened.json()
        answered = _terminal(
            http,
            store_key,
            f"/terminal/v1/redemptions/{body['action_id']}/card-answer",
            _answer(card, _b64url(body["statement"])),
        )
        if answered.status_code != 200:
            raise RuntimeError(f"redemption failed: {answered.text}")
        transaction_hashes.append(answered.json()["transaction_hash"])
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(len(cards)) as pool:
        wall = time.perf_counter()
        latencies = list(pool.map(redeem, range(redemptions)))
        wall = time.perf_counter() - wall
    return Load(sorted(latencies), wall, transaction_hashes)


def count_senders(w3: Web3, transaction_hashes: list[str]) -> int:
    """Return how many accounts sent these transactions (proves the spread over terminals)."""
    return len({w3.eth.get_transaction(HexStr(h))["from"] for h in transaction_hashes})


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds process `pid` has used so far (/proc/<pid>/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    # the command name (field 2) may hold spaces; fields after it start with the state (3)
    fields = text.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """Return (busy, total) CPU ticks of the whole machine so far, all cores (/proc/stat)."""
    with Path("/proc/stat").open(encoding="ascii") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def machine_busy_line(before: tuple[int, int], after: tuple[int, int]) -> str:
    """Return the line saying how busy the machine was between two `machine_ticks` readings.

    The machine is shared: near 100 the benchmark's processes were short of CPU, whoever used it.
    """
    busy, total = after[0] - before[0], after[1] - before[1]
    return f"machine_busy_percent={100 * busy / max(total, 1):.0f} cores={os.cpu_count()}"


RPC_METRIC = "mykey_rpc_requests_total"
"""The node's Prometheus counter of JSON-RPC requests by method (node.metrics, GET /metrics)."""


def rpc_counts(rpc_url: str) -> dict[str, float]:
    """Return the JSON-RPC requests the node has handled so far, by method."""
    counts: dict[str, float] = {}
    text = httpx.get(f"{rpc_url.rstrip('/')}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(RPC_METRIC + "{"):
            labels, value = line.rsplit(" ", 1)
            method = labels.split('method="', 1)[1].split('"', 1)[0]
            counts[method] = float(value)
    return counts


def rpc_line(before: dict[str, float], after: dict[str, float], redemptions: int) -> str:
    """Return the JSON-RPC calls per redemption the node served between two `rpc_counts`."""
    calls = {method: after[method] - before.get(method, 0.0) for method in after}
    busiest = sorted(calls.items(), key=lambda item: item[1], reverse=True)[:6]
    return f"rpc_per_redemption total={sum(calls.values()) / redemptions:.1f} " + " ".join(
        f"{method}={count / redemptions:.1f}" for method, count in busiest
    )


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options both benchmark modes share."""
    parser.add_argument("--redemptions", type=int, default=60)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--terminals", type=int, default=4)
    parser.add_argument(
        "--block-period",
        type=float,
        default=None,
        help=f"seconds per block (default: the dev node's {DEV_BLOCK_PERIOD_S:g} s)",
    )


def check_load_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (exit 2) numbers no benchmark can run with."""
    if args.terminals < 1 or args.workers < 1 or args.redemptions < 1:
        parser.error("--redemptions, --workers and --terminals must each be at least 1")
    if args.block_period is not None and args.block_period <= 0:
        parser.error("--block-period must be positive")


def print_result(load: Load, args: argparse.Namespace, *, mode: str, senders: int) -> None:
    """Print the parameter line and, last, the RESULT line."""
    period = DEV_BLOCK_PERIOD_S if args.block_period is None else args.block_period
    print(
        f"redemptions={len(load.latencies_ms)} workers={args.workers} "
        f"terminals={args.terminals} senders={senders} wall_s={load.wall_s:.2f} "
        f"mode={mode} block_period_s={period:g}"
    )
    print(f"RESULT tx_per_s={load.tx_per_s:.2f} p50_ms={load.p50_ms:.1f} p99_ms={load.p99_ms:.1f}")


def main(argv: list[str] | None = None) -> None:
    """Run the in-process benchmark and print the RESULT line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    add_load_arguments(parser)
    args = parser.parse_args(argv)
    check_load_arguments(parser, args)
    workdir = Path(tempfile.mkdtemp(prefix="mykey-bench-api-"))
    node = start_embedded(workdir / "node", block_period=args.block_period)
    try:
        w3 = connect(node.http_url)
        chain = prepare_chain(
            w3, node.http_url, node.dev_accounts[0].private_key, workdir / KEYS_DIR, args.terminals
        )
        now = datetime.now(UTC)
        authority = TestAuthority.create(now)
        trust = TrustConfiguration((authority.certificate,), (authority.revocation_list(now),))
        settings = bench_settings(workdir)
        create_bench_staff(settings, chain.municipality)
        side = build_chain_side(
            chain.config, load_key_ring(workdir / KEYS_DIR, PASSWORD), SystemClock()
        )
        app = create_app(settings, cards=JpkiCardVerifier(trust), chain=side)
        server, url, thread = _serve(app)
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                cards = enrol_residents(http, authority, now, args.workers)
                calls = rpc_counts(node.http_url)
                cpu, machine = cpu_seconds(os.getpid()), machine_ticks()
                load = redeem_all(http, cards, chain.terminal_keys, args.redemptions)
                cpu = cpu_seconds(os.getpid()) - cpu
                busy = machine_busy_line(machine, machine_ticks())
                rpc = rpc_line(calls, rpc_counts(node.http_url), args.redemptions)
            senders = count_senders(w3, load.transaction_hashes)
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        node.stop()
    shutil.rmtree(workdir, ignore_errors=True)  # kept when the run failed, for its logs
    print(rpc)
    print(busy)
    # one process holds node, API and clients: its CPU over the wall time (100 = one core)
    print(f"cpu_percent process={100 * cpu / load.wall_s:.0f}")
    print_result(load, args, mode="in-process", senders=senders)


if __name__ == "__main__":
    main()
