"""Putting notices in the outbox, in the same transaction as the change they announce.

A notice is enqueued only when the resident has an e-mail address and chose that kind. The
`idempotency_key` names the event (e.g. the audit record it follows), and the table keeps it
unique, so enqueuing the same event twice leaves one row. The Message-ID is derived from the key,
so every attempt to send a notice carries the same Message-ID and a receiving system can drop a
duplicate that a crash between "accepted by SMTP" and "marked sent" could cause.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.notices.render import NoticeKind, render_notice
from api.store.models import Account, OutboxMessage


class OutboxState:
    """The states of an outbox row."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


_POINTS_ARRIVED = frozenset(
    {
        NoticeKind.POINTS_GRANTED,
        NoticeKind.POINTS_CONVERTED,
        NoticeKind.RESERVE_PLACED,
        NoticeKind.RESERVE_WENT_HOME,
    }
)
"""Kinds chosen with the "points granted" box: every way points arrive for the resident."""
_MYKEY_ID_CHANGES = frozenset(
    {NoticeKind.MYKEY_ID_REGISTERED, NoticeKind.MYKEY_ID_CHANGED, NoticeKind.MYKEY_ID_REVOKED}
)


def wants_notice(account: Account, kind: NoticeKind) -> bool:
    """Return True when `account` has an address and chose to receive `kind`."""
    if not account.email:
        return False
    if kind in _POINTS_ARRIVED:
        return account.notify_points_granted
    if kind is NoticeKind.POINTS_EXPIRED:
        return account.notify_points_expired
    if kind is NoticeKind.PASSWORD_CHANGED:
        return account.notify_password_changed
    if kind in _MYKEY_ID_CHANGES:
        return account.notify_mykey_id_changes
    raise ValueError(f"notice kind {kind.value} has no resident choice; add it to wants_notice")


def message_id_for(idempotency_key: str, mail_domain: str) -> str:
    """Return the fixed RFC 5322 Message-ID of the notice with this idempotency key."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{mail_domain}>"


def enqueue_notice(
    *,
    db: Session,
    account: Account,
    kind: NoticeKind,
    idempotency_key: str,
    facts: Mapping[str, str],
    now: int,
    mail_domain: str,
) -> OutboxMessage | None:
    """Add the notice to `db`'s transaction if the resident wants it; return the outbox row.

    Returns the existing row when this idempotency key was enqueued before, and None when the
    resident has no address or did not choose this kind.
    """
    if not wants_notice(account, kind):
        return None
    existing = db.scalars(
        select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)
    ).one_or_none()
    if existing is not None:
        return existing
    rendered = render_notice(kind, facts)
    assert account.email is not None  # wants_notice checked it
    row = OutboxMessage(
        idempotency_key=idempotency_key,
        kind=kind.value,
        recipient=account.email,
        subject=rendered.subject,
        body=rendered.body,
        message_id=message_id_for(idempotency_key, mail_domain),
        state=OutboxState.PENDING,
        attempts=0,
        lease_owner=None,
        lease_until=None,
        next_attempt_at=now,
        created_at=now,
        sent_at=None,
        last_error=None,
    )
    db.add(row)
    db.flush()
    return row
