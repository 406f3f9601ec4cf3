"""The expiry keeper: has the ledger record expired lots (`sweepExpired`), oldest first.

Expired points stop counting at once (lazy evaluation); the keeper makes the ledger record them,
so PointsExpired reaches the index, the "points expired" notice is queued and
`totalsOf(m).expired` (the explorer's outstanding figure) is right.

Which accounts are due comes from the INDEX, never from scanning the chain: every credit event
carries its lot's `expiresAt` (PointsGranted and PointsRefunded per account, ReservePlaced into
the regular account). An account (MyKey ID, municipality, account) is *clean through* time T
when every lot expiring at or before T is recorded: T is the later of the block time of its last
indexed PointsExpired (any write prunes first, so all earlier lots went then) and the block time
of the keeper's own last final `sweepExpired` of it (`expiry_sweeps`; needed because a lot spent
or merged before its expiry emits nothing, and the index may lag the keeper). It is due when a
credit's `expiresAt` lies in (T, now], `now` being the chain's latest block time.

Invariants:
- Bounded: at most `limit` accounts per run, the one with the oldest due expiry first.
- Idempotent: an account swept is clean through the sweep's block time, so the next run skips
  it; the contract itself emits nothing for lots already recorded.
- A refusal for one resident does not stop the others; an unreachable node stops the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from api.errors import ApiError, LedgerUnavailable, SubmissionInDoubt
from api.indexer.follower import events_named
from api.keepers.ports import KeeperLedger
from api.keepers.runs import KeeperRun
from api.store.database import Store
from api.store.models import ExpirySweep
from contracts.domain import REGULAR_ACCOUNT

KEEPER_NAME = "expiry"
DEFAULT_LIMIT = 200
"""Accounts swept per run: one transaction each, so a run stays within a few minutes."""

CREDIT_EVENTS = ("PointsGranted", "PointsRefunded", "ReservePlaced")
"""Events that add a lot with an `expiresAt` to an account."""

AccountKey = tuple[str, int, int]
"""(MyKey ID, municipality, account)."""


@dataclass(frozen=True)
class DueAccount:
    """An account with a lot past its expiry that the ledger has not recorded yet."""

    mykey_id: str
    municipality: int
    account: int
    oldest_due: int
    """The earliest such `expiresAt`: what orders the run."""


@dataclass(frozen=True)
class ExpiryScan:
    """The due accounts (oldest first, all of them) and the next expiry still ahead."""

    due: list[DueAccount]
    next_due_at: int | None


def scan_expiry(store: Store, *, now: int) -> ExpiryScan:
    """Read the index and the keeper's sweep marks; return what is due at chain time `now`."""
    with store.sessions() as db:
        clean: dict[AccountKey, int] = {
            (row.mykey_id, row.municipality, row.account): row.swept_through
            for row in db.scalars(select(ExpirySweep))
        }
        for event in events_named(db, "PointsExpired"):
            if event.mykey_id is None or event.municipality is None:
                continue
            args = json.loads(event.args_json)
            key = (event.mykey_id, event.municipality, int(args["account"]))
            clean[key] = max(clean.get(key, 0), event.block_timestamp)
        oldest: dict[AccountKey, int] = {}
        next_due_at: int | None = None
        for event in events_named(db, *CREDIT_EVENTS):
            if event.mykey_id is None or event.municipality is None:
                continue
            args = json.loads(event.args_json)
            expires_at = int(args["expiresAt"])
            if expires_at > now:
                next_due_at = expires_at if next_due_at is None else min(next_due_at, expires_at)
                continue
            key = (event.mykey_id, event.municipality, int(args.get("account", REGULAR_ACCOUNT)))
            if expires_at <= clean.get(key, 0):
                continue
            oldest[key] = min(oldest.get(key, expires_at), expires_at)
    due = [
        DueAccount(mykey_id, municipality, account, expires_at)
        for (mykey_id, municipality, account), expires_at in oldest.items()
    ]
    due.sort(key=lambda item: (item.oldest_due, item.mykey_id, item.municipality, item.account))
    return ExpiryScan(due, next_due_at)


def mark_swept(store: Store, account: DueAccount, swept_through: int) -> None:
    """Record that `account` is clean through block time `swept_through` (never moves back)."""
    with store.sessions() as db, db.begin():
        row = db.scalars(
            select(ExpirySweep).where(
                ExpirySweep.mykey_id == account.mykey_id,
                ExpirySweep.municipality == account.municipality,
                ExpirySweep.account == account.account,
            )
        ).one_or_none()
        if row is None:
            db.add(
                ExpirySweep(
                    mykey_id=account.mykey_id,
                    municipality=account.municipality,
                    account=account.account,
                    swept_through=swept_through,
                )
            )
        else:
            row.swept_through = max(row.swept_through, swept_through)


def _never() -> bool:
    return False


def run_expiry_keeper(
    ledger: KeeperLedger,
    store: Store,
    *,
    limit: int = DEFAULT_LIMIT,
    should_stop: Callable[[], bool] = _never,
) -> KeeperRun:
    """Sweep up to `limit` due accounts, oldest expiry first; return what the run did.

    `should_stop` is asked before each sweep (the process is shutting down): the run then ends
    early, the accounts not swept counted in `backlog`.
    """
    run = KeeperRun(KEEPER_NAME)
    try:
        run.block_time = ledger.block_time()
    except ApiError as error:
        run.error = error.message.en
        return run
    scan = scan_expiry(store, now=run.block_time)
    run.next_due_at = scan.next_due_at
    run.backlog = max(0, len(scan.due) - limit)
    batch = scan.due[:limit]
    for position, account in enumerate(batch):
        if should_stop():
            run.backlog += len(batch) - position
            return run
        try:
            swept = ledger.sweep_expired(account.mykey_id, account.municipality, account.account)
        except (LedgerUnavailable, SubmissionInDoubt) as error:
            run.error = f"{account.mykey_id}/{account.municipality}: {error.message.en}"
            run.backlog += len(batch) - position
            return run
        except ApiError as refusal:
            run.refused.append(
                f"{account.mykey_id}/{account.municipality}/{account.account}: {refusal.message.en}"
            )
            continue
        mark_swept(store, account, swept.block_timestamp)
        run.transactions += 1
        run.swept += 1
        run.expired_points += swept.expired_points
    return run
