"""Time a full card tap on the virtual My Number Card over the real PC/SC stack.

A tap: connect to the card through pcscd, open the JPKI application (token check), read the
auth certificate, verify the PIN, sign a platform challenge, close, then verify the answer
through the platform checks (challenge, chain, dates, key usage, CRL, signature). The card stays
in the vpcd reader between taps, as it does on a counter reader, so the figure leaves out
pcscd's 400 ms presence polling; the time from insertion to a connected card is printed apart.

Needs pcscd running with the vsmartcard-vpcd driver (scripts/start-services.sh). Prints
`RESULT tap_ms_p50=... tap_ms_p99=...`.

    .venv/bin/python bench/card_tap.py [--taps 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime

from card_bridge.errors import CardBridgeError
from card_bridge.jpki import JpkiCard
from card_bridge.pcsc import PcscReaders
from card_bridge.platform_checks.authentication import CardAuthenticator
from card_bridge.platform_checks.certificates import TrustConfiguration
from card_bridge.platform_checks.challenges import ChallengeStore
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.issuance import TestAuthority, issue_card
from card_bridge.virtual_card.vpcd import VPCD_READER, VpcdLink, reader_lock

BENCH_PIN = "1357"
"""The virtual card's test PIN."""


def utc_now() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(UTC)


def tap(readers: PcscReaders, authenticator: CardAuthenticator) -> None:
    """One full tap; raises if anything along the way fails."""
    challenge = authenticator.issue_challenge()
    connection = readers.connect(VPCD_READER, timeout=5.0)
    try:
        card = JpkiCard.open(connection)
        certificate = card.read_auth_certificate()
        card.verify_pin(BENCH_PIN)
        signature = card.sign(challenge.value)
    finally:
        connection.close()
    authenticator.verify(
        challenge=challenge.value, certificate_der=certificate, signature=signature
    )


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `samples`."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main(argv: list[str]) -> int:
    """Run the benchmark; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--taps", type=int, default=100)
    options = parser.parse_args(argv)
    now = utc_now()
    authority = TestAuthority.create(now)
    card = VirtualMyNumberCard(issue_card(authority, now), pin=BENCH_PIN)
    trust = TrustConfiguration((authority.certificate,), (authority.revocation_list(now),))
    authenticator = CardAuthenticator(trust, ChallengeStore(utc_now), utc_now)
    readers = PcscReaders()
    try:
        readers.list_readers()
        with reader_lock(), VpcdLink(card):
            inserted = time.perf_counter()
            readers.connect(VPCD_READER, timeout=5.0).close()
            insert_ms = (time.perf_counter() - inserted) * 1000
            tap(readers, authenticator)  # warm-up
            samples = []
            for _ in range(options.taps):
                started = time.perf_counter()
                tap(readers, authenticator)
                samples.append((time.perf_counter() - started) * 1000)
    except CardBridgeError as error:
        print(f"card_tap: {error}", file=sys.stderr)
        return 1
    print(f"taps={len(samples)} mean_ms={statistics.fmean(samples):.1f}")
    print(f"insert_to_connect_ms={insert_ms:.0f} (includes pcscd's 400 ms presence polling)")
    print(
        f"RESULT tap_ms_p50={percentile(samples, 0.50):.1f} "
        f"tap_ms_p99={percentile(samples, 0.99):.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
