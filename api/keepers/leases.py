"""One keeper at a time across processes: a lease row per keeper in the private store.

Why a lease row rather than a PostgreSQL advisory lock or an SQLite exclusive transaction: it
works the same on both databases, it survives a crashed holder (the lease simply expires), and
the same row carries the keeper's last run, so `GET /operator/keepers` shows the run of whichever
process (the API's thread or `mykey api keep`) did it.

Invariants:
- Taking a lease is one compare-and-set UPDATE (`... WHERE name = ? AND (owner = me OR
  expires_at <= now)`), atomic on SQLite and PostgreSQL: at most one owner holds an unexpired
  lease. The row is created first if missing; a racing insert loses on the primary key.
- A holder renews by taking again; it releases by setting `expires_at` to now, so the next
  process need not wait for the lease to run out.
- A lease lasts longer than one run may take (`DEFAULT_LEASE_SECONDS`), so a slow run is not
  overtaken; a run that might exceed it should renew between steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.store.database import Store
from api.store.models import KeeperLease

DEFAULT_LEASE_SECONDS = 300
"""Five minutes: far longer than a bounded run (200 sweeps at a block each) normally takes."""


@dataclass(frozen=True)
class KeeperStatus:
    """A keeper's lease and last run, as the operator route shows them."""

    name: str
    holder: str | None
    lease_expires_at: int
    last_started_at: int | None
    last_finished_at: int | None
    last_report: dict[str, Any] | None
    last_error: str | None
    next_due_at: int | None


def acquire_lease(store: Store, name: str, *, owner: str, now: int, seconds: int) -> bool:
    """Take (or renew) keeper `name`'s lease for `owner` until `now + seconds`; True when held."""
    try:
        with store.sessions() as db, db.begin():
            if db.get(KeeperLease, name) is None:
                db.add(KeeperLease(name=name, owner=None, expires_at=0))
    except IntegrityError:
        pass  # another process created the row first; the UPDATE below decides
    with store.sessions() as db, db.begin():
        result = db.execute(
            update(KeeperLease)
            .where(
                KeeperLease.name == name,
                (KeeperLease.owner == owner) | (KeeperLease.expires_at <= now),
            )
            .values(owner=owner, expires_at=now + seconds)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release_lease(store: Store, name: str, *, owner: str, now: int) -> None:
    """Let keeper `name`'s lease go now, if `owner` holds it (otherwise nothing changes)."""
    with store.sessions() as db, db.begin():
        db.execute(
            update(KeeperLease)
            .where(KeeperLease.name == name, KeeperLease.owner == owner)
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )


def record_run(
    store: Store,
    name: str,
    *,
    started_at: int,
    finished_at: int,
    report: dict[str, Any],
    error: str | None,
    next_due_at: int | None,
) -> None:
    """Store what keeper `name`'s last run did (on its lease row, which must exist)."""
    with store.sessions() as db, db.begin():
        row = db.get(KeeperLease, name)
        if row is None:
            raise LookupError(f"keeper {name!r} has no lease row: take its lease before a run")
        row.last_started_at = started_at
        row.last_finished_at = finished_at
        row.last_report_json = json.dumps(report, sort_keys=True)
        row.last_error = error
        row.next_due_at = next_due_at


def keeper_statuses(db: Session) -> list[KeeperStatus]:
    """Every keeper that ever ran here, by name."""
    rows = db.scalars(select(KeeperLease).order_by(KeeperLease.name))
    return [
        KeeperStatus(
            name=row.name,
            holder=row.owner,
            lease_expires_at=row.expires_at,
            last_started_at=row.last_started_at,
            last_finished_at=row.last_finished_at,
            last_report=None if row.last_report_json is None else json.loads(row.last_report_json),
            last_error=row.last_error,
            next_due_at=row.next_due_at,
        )
        for row in rows
    ]
