"""The operator's health report: is the store reachable and migrated, is the outbox flowing.

A report never raises for an unhealthy part: it says which part is unhealthy, so the endpoint
can answer 503 with the details an operator needs. Ledger head, peers and indexer lag join the
report when the chain adapters exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.notices.outbox import OutboxState
from api.store.migrations import current_version, latest_version
from api.store.models import OutboxMessage

OUTBOX_STALL_SECONDS = 15 * 60
"""A due notice older than this means the sender is not running or the SMTP server is down."""


@dataclass(frozen=True)
class HealthReport:
    """What an operator sees."""

    database_ok: bool
    schema_version: int
    schema_latest: int
    outbox_pending: int
    outbox_failed: int
    outbox_oldest_pending_age: int | None
    problems: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        """True when nothing in `problems`."""
        return not self.problems


def check_health(*, db: Session, now: int) -> HealthReport:
    """Return the current health report."""
    problems: list[str] = []
    try:
        engine = db.get_bind()
        version = current_version(engine)  # type: ignore[arg-type]
        counts = dict(
            db.execute(
                select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
            ).all()
        )
        oldest = db.scalar(
            select(func.min(OutboxMessage.created_at)).where(
                OutboxMessage.state == OutboxState.PENDING
            )
        )
    except SQLAlchemyError as error:
        return HealthReport(False, 0, latest_version(), 0, 0, None, (f"database: {error}",))
    if version != latest_version():
        problems.append(f"schema at version {version}, program expects {latest_version()}")
    age = None if oldest is None else max(now - int(oldest), 0)
    if age is not None and age > OUTBOX_STALL_SECONDS:
        problems.append(f"oldest pending notice waits {age} s: is the notice sender running?")
    return HealthReport(
        database_ok=True,
        schema_version=version,
        schema_latest=latest_version(),
        outbox_pending=int(counts.get(OutboxState.PENDING, 0)),
        outbox_failed=int(counts.get(OutboxState.FAILED, 0)),
        outbox_oldest_pending_age=age,
        problems=tuple(problems),
    )
