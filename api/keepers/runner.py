"""Runs the keepers: each under its lease, between indexer catch-ups, logged and recorded.

`KeeperRunner.run_once()` is one pass: the reserve keeper first (a reserve gone home may itself
be expired, and `sweepExpired` needs it recorded as a lot), then the expiry keeper. With an
indexer, the runner catches the index up before the expiry keeper reads it (fresh grants are
seen) and after each keeper (its events are indexed and their notices queued, by the indexer's
own hook, in the same transaction). `KeeperThread` repeats passes in the API process;
`mykey api keep` does the same from the command line.

Invariants:
- A keeper runs only while this runner holds its lease (`api.keepers.leases`); a pass that does
  not get a lease skips that keeper and reports it as held elsewhere.
- Every run is logged as one JSON line (logger `api.keepers`) and stored on its lease row, so
  `GET /operator/keepers` shows the last run whichever process made it.
- A failing run never raises out of `run_once`: its error is reported and the next pass retries.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from api.chain.side import ChainSide
from api.clock import Clock
from api.indexer.follower import ChainIndexer
from api.keepers import expiry, reserves
from api.keepers.leases import DEFAULT_LEASE_SECONDS, acquire_lease, record_run, release_lease
from api.keepers.ports import KeeperLedger, Web3KeeperLedger
from api.keepers.runs import KeeperRun
from api.store.database import Store

_log = logging.getLogger("api.keepers")
DEFAULT_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class PassReport:
    """One pass: the run of each keeper this runner held the lease of, and those it did not."""

    runs: list[KeeperRun]
    held_elsewhere: list[str]


class KeeperRunner:
    """Both keepers against one ledger and one store, as lease owner `owner`."""

    def __init__(
        self,
        ledger: KeeperLedger,
        store: Store,
        clock: Clock,
        *,
        owner: str,
        indexer: ChainIndexer | None = None,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        expiry_limit: int = expiry.DEFAULT_LIMIT,
        reserve_max_transactions: int = reserves.DEFAULT_MAX_TRANSACTIONS,
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.clock = clock
        self.owner = owner
        self.indexer = indexer
        self.lease_seconds = lease_seconds
        self.expiry_limit = expiry_limit
        self.reserve_max_transactions = reserve_max_transactions
        self.stopping = threading.Event()
        """Set to end a pass early (between sweeps) when the process shuts down."""

    def run_once(self) -> PassReport:
        """One pass of both keepers; return what each did."""
        keepers: tuple[tuple[str, Callable[[], KeeperRun]], ...] = (
            (reserves.KEEPER_NAME, self._reserves),
            (expiry.KEEPER_NAME, self._expiry),
        )
        report = PassReport(runs=[], held_elsewhere=[])
        for name, keeper in keepers:
            try:
                run = self._run_leased(name, keeper)
            except Exception as error:  # the store itself failed (lease or record): next pass
                run = KeeperRun(name, error=f"{type(error).__name__}: {error}")
                _log.warning(json.dumps(run.as_report(), sort_keys=True))
            if run is None:
                report.held_elsewhere.append(name)
            else:
                report.runs.append(run)
        return report

    def _run_leased(self, name: str, keeper: Callable[[], KeeperRun]) -> KeeperRun | None:
        started = self.clock.now()
        if not acquire_lease(
            self.store, name, owner=self.owner, now=started, seconds=self.lease_seconds
        ):
            _log.info(json.dumps({"keeper": name, "skipped": "lease held by another process"}))
            return None
        try:
            try:
                run = keeper()
            except Exception as error:  # a bug or the store failing: report it, retry next pass
                run = KeeperRun(name, error=f"{type(error).__name__}: {error}")
            caught_up = self._catch_up()
            if caught_up is not None and run.error is None:
                run.error = caught_up
            record_run(
                self.store,
                name,
                started_at=started,
                finished_at=self.clock.now(),
                report=run.as_report(),
                error=run.error,
                next_due_at=run.next_due_at,
            )
        finally:
            release_lease(self.store, name, owner=self.owner, now=self.clock.now())
        line = json.dumps(run.as_report(), sort_keys=True)
        if run.error or run.refused:
            _log.warning(line)
        else:
            _log.info(line)
        return run

    def _catch_up(self) -> str | None:
        """Index what the node finalized; return why not (None when done or no indexer)."""
        if self.indexer is None:
            return None
        try:
            self.indexer.catch_up()
        except Exception as error:  # node restarting: the indexer's cursor stays; next pass
            return f"indexer catch-up failed: {type(error).__name__}: {error}"
        return None

    def _reserves(self) -> KeeperRun:
        run = reserves.run_reserve_keeper(
            self.ledger, max_transactions=self.reserve_max_transactions
        )
        if run.block_time is not None:
            with self.store.sessions() as db:
                run.next_due_at = reserves.next_reserve_deadline(db, after=run.block_time)
        return run

    def _expiry(self) -> KeeperRun:
        problem = self._catch_up()  # grants made since the last pass must be in the index
        if problem is not None:
            return KeeperRun(expiry.KEEPER_NAME, error=problem)
        return expiry.run_expiry_keeper(
            self.ledger, self.store, limit=self.expiry_limit, should_stop=self.stopping.is_set
        )


class KeeperThread:
    """Runs `KeeperRunner.run_once` every `interval` seconds in a daemon thread until stopped."""

    def __init__(self, runner: KeeperRunner, *, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self.runner = runner
        self.interval = interval
        self.last_pass: PassReport | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keepers", daemon=True)

    def start(self) -> None:
        """Start the passes (the first one at once)."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current sweep (the pass ends early); idempotent."""
        self._stop.set()
        self.runner.stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.last_pass = self.runner.run_once()
            self._stop.wait(self.interval)


def lease_owner(label: str) -> str:
    """A lease owner name unique to this process: host, process id and `label`."""
    return f"{socket.gethostname()}:{os.getpid()}:{label}"


def keeper_thread_for(
    chain: ChainSide,
    store: Store,
    clock: Clock,
    *,
    indexer: ChainIndexer | None,
    interval: float = DEFAULT_INTERVAL_SECONDS,
) -> KeeperThread:
    """The keeper thread `create_app` starts when `settings.run_keepers` is on (not started)."""
    runner = KeeperRunner(
        Web3KeeperLedger(chain.ledger), store, clock, owner=lease_owner("api"), indexer=indexer
    )
    return KeeperThread(runner, interval=interval)
