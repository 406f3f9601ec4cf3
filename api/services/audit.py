"""The audit log: one append-only record for every write (who, what, when, which transaction).

Records name actors by MyKey ID or staff login name, and targets by identifier; `detail` is a
small JSON object of non-personal facts (never a password, e-mail address or service ID).
Records are added in the same transaction as the write they describe, so neither exists alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.store.models import AuditRecord


class ActorKind(StrEnum):
    """Who acted."""

    RESIDENT = "resident"
    STAFF = "staff"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """The person (or the system) behind a write."""

    kind: ActorKind
    name: str


SYSTEM_ACTOR = Actor(ActorKind.SYSTEM, "system")


def record_audit(
    *,
    db: Session,
    at: int,
    actor: Actor,
    action: str,
    target: str,
    transaction_hash: str | None = None,
    detail: Mapping[str, str | int | bool | None] | None = None,
) -> AuditRecord:
    """Add an audit record to `db`'s transaction (flushed, so its id is known); return it."""
    record = AuditRecord(
        at=at,
        actor_kind=actor.kind.value,
        actor=actor.name,
        action=action,
        target=target,
        transaction_hash=transaction_hash,
        detail=json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True),
    )
    db.add(record)
    db.flush()
    return record


def list_audit_records(
    *, db: Session, limit: int, before_id: int | None = None, action: str | None = None
) -> list[AuditRecord]:
    """Return up to `limit` records, newest first, older than `before_id` when given."""
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditRecord.id < before_id)
    if action is not None:
        query = query.where(AuditRecord.action == action)
    return list(db.scalars(query).all())
