"""`mykey dev`: the embedded default: one validator, contracts, demo consortium, API and pages.

This is the composition root of the dev stack, so it is the one module that may join parts whose
packages must not import each other (node/ never imports api/): it starts the node in this
process (`node.devmode.start_embedded`), deploys the contracts and the demo consortium through
plain JSON-RPC (`contracts.demo.deploy_demo`), serves the API and pages beside it
(`api.dev.start_dev_api`, which reaches the node only over JSON-RPC), prints what a developer
needs, and waits for Ctrl-C. Every key and password it prints is a public THROWAWAY TEST one.

A data dir given with --datadir is kept and reused: the deployment is saved there as
deployment.json and loaded on the next start instead of deploying again.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from web3 import HTTPProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware

from api.dev import (
    DEMO_STAFF,
    DEMO_STAFF_PASSWORD,
    DEV_API_PORT,
    DevApi,
    DevApiError,
    start_dev_api,
)
from contracts.client import LedgerClient
from contracts.demo import DEMO_MUNICIPALITIES, DEMO_RESIDENTS, DemoConsortium, deploy_demo
from contracts.deploy import Deployment
from node.devmode import DEV_HTTP_PORT, DEV_WS_PORT, RunningNode, banner, start_embedded
from node.logs import configure_logging

DEPLOYMENT_FILE = "deployment.json"

log = logging.getLogger("mykey.dev")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse `mykey dev` options."""
    parser = argparse.ArgumentParser(
        prog="mykey dev",
        description="Start a one-validator ledger with the contracts and a demo consortium.",
    )
    parser.add_argument("--datadir", type=Path, help="keep the chain here (default: a temp dir)")
    parser.add_argument("--http-port", type=int, default=DEV_HTTP_PORT)
    parser.add_argument("--ws-port", type=int, default=DEV_WS_PORT)
    parser.add_argument("--block-period", type=float, default=None, help="seconds per block")
    parser.add_argument("--api-port", type=int, default=DEV_API_PORT)
    parser.add_argument("--no-demo", action="store_true", help="start the bare ledger only")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def connect(http_url: str) -> Web3:
    """Return a web3 client for this node (QBFT extraData needs the POA middleware, as on Besu)."""
    w3 = Web3(HTTPProvider(http_url, request_kwargs={"timeout": 60}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def deploy_or_load(node: RunningNode, datadir: Path) -> tuple[Deployment, DemoConsortium | None]:
    """Deploy the contracts and demo consortium once per data dir; later starts load it.

    Returns the deployment, and the demo consortium when it was deployed just now.
    """
    saved = datadir / DEPLOYMENT_FILE
    if saved.exists():
        return Deployment.load(saved), None
    deployer_key = node.dev_accounts[0].private_key
    demo = deploy_demo(connect(node.http_url), deployer_key)
    demo.deployment.save(saved)
    return demo.deployment, demo


def api_summary(url: str) -> str:
    """Return the lines about the API, the pages and the demo staff logins."""
    lines = [
        "",
        f"API and pages: {url}",
        f"  explorer       {url}/explorer",
        f"  My Page        {url}/my  (register with the virtual test card, PIN 1234)",
        f"  card reader    mykey card helper --allow-origin {url}  (real reader; test CA only)",
        f"  staff console  {url}/staff",
        f"  API reference  {url}/docs",
        f"Demo staff logins (password {DEMO_STAFF_PASSWORD!r}, a THROWAWAY TEST PASSWORD):",
    ]
    lines += [f"  {login:<20} {role.value} {org or ''}" for login, role, org in DEMO_STAFF]
    return "\n".join(lines)


def demo_summary(w3: Web3, deployment: Deployment) -> str:
    """Return the lines about the contracts and the demo consortium, read back from the chain."""
    client = LedgerClient(w3, deployment)
    lines = ["", "Contracts (deployment saved as deployment.json in the data dir):"]
    for name in ("Consortium", "MykeyRegistry", "PointLedger", "Settlement"):
        lines.append(f"  {name:<14} {deployment.address_of(name)}")
    names = dict(DEMO_MUNICIPALITIES)
    lines += ["", "Demo residents (MyKey ID: points per municipality):"]
    for mykey_id, _home in DEMO_RESIDENTS:
        balances = ", ".join(
            f"{code} {names[code]} {client.balance_of(mykey_id, int(code)):,}"
            for code, _ in DEMO_MUNICIPALITIES
        )
        reserved = client.reserved_of(mykey_id)
        lines.append(f"  {mykey_id}: {balances}; reserved {reserved:,}")
    lines.append(
        "Demo member and terminal keys are THROWAWAY TEST KEYS: contracts.demo.demo_key(role)."
    )
    return "\n".join(lines)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: list[str]) -> int:
    """Run `mykey dev` until Ctrl-C; return the exit code."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    throwaway = args.datadir is None
    datadir: Path = Path(tempfile.mkdtemp(prefix="mykey-dev-")) if throwaway else args.datadir
    try:
        try:
            node = start_embedded(
                datadir,
                http_port=args.http_port,
                ws_port=args.ws_port,
                block_period=args.block_period,
            )
        except (RuntimeError, OSError) as error:
            print(f"mykey dev: cannot start the node: {error}", file=sys.stderr)
            print("  (is another node on that port? try --http-port/--ws-port)", file=sys.stderr)
            return 1
        with node:
            text = banner(node.http_url, node.ws_url, node.dev_accounts, datadir)
            api: DevApi | None = None
            if not args.no_demo:
                deployment, demo = deploy_or_load(node, datadir)
                try:
                    api = start_dev_api(datadir, node.http_url, demo, port=args.api_port)
                except DevApiError as error:
                    print(f"mykey dev: {error}", file=sys.stderr)
                    return 1
                extra = demo_summary(connect(node.http_url), deployment) + api_summary(api.url)
                head, tail = text.rsplit("\n\n", 1)  # keep "Press Ctrl-C" last
                text = f"{head}\n{extra}\n\n{tail}"
            print(text, flush=True)
            try:
                wait_for_signal()
            finally:
                if api is not None:
                    api.stop()
    finally:
        if throwaway:
            shutil.rmtree(datadir, ignore_errors=True)
    print("dev ledger stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
