"""Benchmark: redemptions at point-use terminals through the API, card to final receipt.

Starts a throwaway dev node (LevelDB, in this process), deploys the demo consortium, serves the
API with uvicorn on 127.0.0.1 (a free port), registers residents with virtual My Number Cards
and grants them points through the API, then runs `--redemptions` redemptions from `--workers`
threads, each a signed terminal request to open the redemption plus the card's answer, which
the API settles on-chain and answers once the receipt is final. Latency is per redemption (open
+ answer); throughput is redemptions over the wall time of the run. The node, the API and the
clients share one Python process (and GIL) on this machine, so the figure is a floor.

`--terminals N` spreads the workers over N point-use terminals of the demo store, each with its
own key (THROWAWAY TEST KEYS, registered on-chain by the store's admin during set-up and held by
the API, which sends each terminal's transactions from that terminal's account). The API keeps
one nonce counter and lock per sending account, held while a transaction is signed and handed
to the node (not while its receipt is awaited), so with one terminal those steps run one at a
time. Comparing `--terminals 1` with `--terminals 4` at the same `--redemptions` shows whether
that per-key serialisation limits throughput.

Run it as a module (its file name would shadow the `api` package as a script):
`.venv/bin/python -m bench.api [--redemptions N] [--workers W] [--terminals T]`. The last line
printed is `RESULT tx_per_s=<float> p50_ms=<float> p99_ms=<float>`.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import socket
import statistics
import string
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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


def main(argv: list[str] | None = None) -> None:  # noqa: PLR0915 - one linear benchmark script
    """Run the benchmark and print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redemptions", type=int, default=60)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--terminals", type=int, default=4)
    args = parser.parse_args(argv)
    if args.terminals < 1 or args.workers < 1 or args.redemptions < 1:
        parser.error("--redemptions, --workers and --terminals must each be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="mykey-bench-api-"))
    node = start_embedded(workdir / "node")
    try:
        w3 = connect(node.http_url)
        demo = deploy_demo(w3, node.dev_accounts[0].private_key, gas_limit=3_000_000)
        terminal_keys = _store_terminals(w3, demo, args.terminals)
        kawasaki = demo.municipalities[next(iter(demo.municipalities))]
        for key in (demo.platform_key, demo.verifier_key, *terminal_keys, kawasaki.admin_key):
            write_keystore(workdir / "keys", key, PASSWORD, iterations=2)
        write_keystore(workdir / "keys", kawasaki.management_terminal_key, PASSWORD, iterations=2)
        config = ChainConfig(
            rpc_url=node.http_url,
            deployment=demo.deployment,
            platform=address_of(demo.platform_key),
            verifier=address_of(demo.verifier_key),
            granting_terminals={int(kawasaki.code): address_of(kawasaki.management_terminal_key)},
        )
        now = datetime.now(UTC)
        authority = TestAuthority.create(now)
        trust = TrustConfiguration((authority.certificate,), (authority.revocation_list(now),))
        settings = ApiSettings.for_data_dir(workdir / "api", password_hashing=FAST)
        side = build_chain_side(config, load_key_ring(workdir / "keys", PASSWORD), SystemClock())
        app = create_app(settings, cards=JpkiCardVerifier(trust), chain=side)
        server, url, thread = _serve(app)
        store = open_store(settings.database_url)
        with store.sessions() as db:
            create_staff_account(
                db=db,
                passwords=PasswordService(FAST),
                actor=SYSTEM_ACTOR,
                login_name="bench.staff",
                password="bench passphrase 1",  # noqa: S106 - throwaway bench account
                role="municipal-staff",
                organisation=f"{kawasaki.code:05d}",
                now=int(time.time()),
            )
        store.close()
        with httpx.Client(base_url=url, timeout=60) as http:
            token = http.post(
                "/staff/sessions",
                json={"login_name": "bench.staff", "password": "bench passphrase 1"},
            ).json()["token"]
            cards = [issue_card(authority, now) for _ in range(args.workers)]

            def setup(card: CardIssue) -> str:
                mykey_id = _register(http, card)
                http.post(
                    "/grants",
                    json={"mykey_id": mykey_id, "points": 100_000, "activity": "volunteering"},
                    headers={"Authorization": f"Bearer {token}"},
                ).raise_for_status()
                return mykey_id

            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(setup, cards))

            transaction_hashes: list[str] = []  # list.append is atomic under the GIL

            def redeem(index: int) -> float:
                # a card always goes through the same terminal: workers spread over terminals
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

            # each worker redeems with its own card so no two requests race for one balance
            with ThreadPoolExecutor(args.workers) as pool:
                wall = time.perf_counter()
                latencies = list(pool.map(redeem, range(args.redemptions)))
                wall = time.perf_counter() - wall
        # which accounts actually sent the redemptions (proves the spread over terminals)
        senders = {w3.eth.get_transaction(HexStr(h))["from"] for h in transaction_hashes}
        server.should_exit = True
        thread.join(10)
    finally:
        node.stop()
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"redemptions={len(latencies)} workers={args.workers} terminals={args.terminals} "
        f"senders={len(senders)} wall_s={wall:.2f}"
    )
    print(f"RESULT tx_per_s={len(latencies) / wall:.2f} p50_ms={p50:.1f} p99_ms={p99:.1f}")


if __name__ == "__main__":
    main()
