"""`python -m card_bridge.virtual_card` / `mykey card emulate`: put a virtual card into vpcd.

For demos and manual checks: makes a test CA and a card at start, writes the CA certificate and
an empty CRL where the platform can be pointed at them, connects to vpcd and stays until
interrupted. The card's PIN is a test PIN given on the command line (default 1234); it is the
virtual card's, never a resident's.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.issuance import TestAuthority, issue_card, to_pem, utc_now
from card_bridge.virtual_card.vpcd import VPCD_HOST, VPCD_PORT, VpcdLink, VpcdUnavailable


def build_parser() -> argparse.ArgumentParser:
    """The emulator's options."""
    parser = argparse.ArgumentParser(
        prog="mykey card emulate",
        description="Run a virtual My Number Card (test CA, no real J-LIS material) in vpcd.",
    )
    parser.add_argument("--port", type=int, default=VPCD_PORT, help="vpcd port (35963 = 00 00)")
    parser.add_argument("--pin", default="1234", help="the virtual card's test PIN (4 digits)")
    parser.add_argument(
        "--out", type=Path, default=None, help="write test-jpki-ca.pem and test-jpki-crl.pem here"
    )
    return parser


def main(argv: list[str]) -> int:
    """Run until SIGINT or SIGTERM; return the exit code."""
    options = build_parser().parse_args(argv)
    if len(options.pin) != 4 or not options.pin.isdigit():
        print("mykey card emulate: --pin must be 4 digits", file=sys.stderr)
        return 2
    now = utc_now()
    authority = TestAuthority.create(now)
    card = VirtualMyNumberCard(issue_card(authority, now), pin=options.pin)
    if options.out is not None:
        options.out.mkdir(parents=True, exist_ok=True)
        (options.out / "test-jpki-ca.pem").write_bytes(to_pem(authority.certificate))
        (options.out / "test-jpki-crl.pem").write_bytes(to_pem(authority.revocation_list(now)))
    stop = threading.Event()

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    link = VpcdLink(card, host=VPCD_HOST, port=options.port)
    try:
        link.connect()
    except VpcdUnavailable as error:
        print(f"mykey card emulate: {error}", file=sys.stderr)
        return 1
    print(f"virtual My Number Card connected to vpcd on {VPCD_HOST}:{options.port}", flush=True)
    while not stop.is_set() and not link.withdrawn.is_set():
        stop.wait(0.2)
    link.disconnect()
    print(f"virtual card removed after {len(card.apdu_log)} commands", flush=True)
    return 0
