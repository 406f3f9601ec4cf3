"""`mykey api keep`: run the keepers against the chain the settings configure.

Builds the chain side from `MYKEY_API_CHAIN_CONFIG` and the keystores, an indexer with the
residents' notice hook (so the events the keepers cause are indexed and noticed even when no API
process follows the chain), and a `KeeperRunner`; then one pass (`--once`) or a pass every
`--interval` seconds until SIGTERM/SIGINT. Several `keep` processes and API keeper threads may
run at once: each keeper's lease lets only one of them work at a time.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from api.chain.config import ChainConfigError
from api.chain.keys import KeystoreError
from api.chain.side import chain_side_from_settings
from api.clock import SystemClock
from api.indexer.follower import ChainIndexer
from api.keepers.ports import Web3KeeperLedger
from api.keepers.runner import KeeperRunner, PassReport, lease_owner
from api.notices.chain_notices import ChainNoticeHook
from api.settings import ApiSettings, SettingsError
from api.store.database import open_store


def describe_pass(report: PassReport) -> str:
    """One line per pass for the terminal: each keeper's counts, or why it did not run."""
    parts = [
        f"{run.keeper}: swept {run.swept} expired_points {run.expired_points} "
        f"refused {len(run.refused)} backlog {run.backlog}"
        + (f" error {run.error}" if run.error else "")
        for run in report.runs
    ]
    parts += [f"{name}: lease held elsewhere" for name in report.held_elsewhere]
    return "; ".join(parts)


def run_keepers_command(settings: ApiSettings, *, once: bool, interval: float) -> int:
    """Run the keepers; return the exit code (1 when `--once` met an error).

    Raises SettingsError when no chain is configured or its files are unreadable.
    """
    clock = SystemClock()
    try:
        chain = chain_side_from_settings(settings, clock)
    except (ChainConfigError, KeystoreError) as error:
        raise SettingsError(str(error)) from error
    if chain is None:
        raise SettingsError("`keep` needs a chain: set MYKEY_API_CHAIN_CONFIG (and keystores)")
    store = open_store(settings.database_url)
    try:
        mail_domain = settings.mail_from.rpartition("@")[2] or "mykey.invalid"
        indexer = ChainIndexer(
            chain.w3,
            chain.config.deployment,
            store,
            now=clock.now,
            after_store=ChainNoticeHook(mail_domain=mail_domain, now=clock.now),
        )
        runner = KeeperRunner(
            Web3KeeperLedger(chain.ledger),
            store,
            clock,
            owner=lease_owner("keep"),
            indexer=indexer,
        )
        if once:
            report = runner.run_once()
            print(describe_pass(report), flush=True)
            return 1 if any(run.error for run in report.runs) else 0
        stop = threading.Event()

        def request_stop(_signal: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        print(f"keeping every {interval:g} s; stop with SIGTERM", flush=True)
        while not stop.is_set():
            print(describe_pass(runner.run_once()), flush=True)
            stop.wait(interval)
        return 0
    finally:
        store.close()
