"""Notices for what happened on the chain, enqueued as the indexer stores the events.

`ChainNoticeHook` is the indexer's after-store hook (`api.indexer.follower.ChainIndexer`): it runs
in the database transaction that stores a range of events and moves the cursor, so the notices
are committed with their events or not at all.

Invariants:
- Exactly once per (event, resident): each notice's idempotency key is
  `chain:<block>:<log index>:<kind>`, unique in the outbox table; an event names one MyKey ID,
  hence one resident. Re-polling, a restarted indexer or a second indexer cannot add a second row.
- One notice per grant whoever made it: a grant made through the API's grant service already
  enqueued its "points granted" notice when the service recorded it. That service claims the
  grant in the `grants` table, committed *before* the transaction is sent, with
  `reference` = SHA-256 of its idempotency key, and the ledger's PointsGranted event carries that
  hash as `referenceHash`. So a PointsGranted event whose (referenceHash, MyKey ID, amount)
  matches a stored grant is the API's and gets no second notice; any other one (a granting
  terminal that called the ledger directly) gets one here. The claim precedes the event, so no
  ordering of indexer and API can produce two notices.
- MykeyRegistered gets none here: only the platform registers MyKey IDs, through the API's
  registration, which enqueues "MyKey ID registered" in the transaction that creates the account.
- Residents without an e-mail address or who did not choose a kind get none (`wants_notice`, at
  the time the event is indexed). Notices carry the MyKey ID, amounts, municipality names and
  dates only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.municipalities import MUNICIPALITIES
from api.notices.outbox import enqueue_notice
from api.notices.render import NoticeKind
from api.store.models import Account, ChainEvent, Grant, OutboxMessage

JST = timezone(timedelta(hours=9), "JST")
_MUNICIPALITY_NAMES: dict[str, str] = {str(item.code): item.name_ja for item in MUNICIPALITIES}


@dataclass(frozen=True)
class ChainNotice:
    """One notice an event calls for: its kind and the facts its text needs."""

    kind: NoticeKind
    facts: dict[str, str]


def chain_notice_key(event: ChainEvent, kind: NoticeKind) -> str:
    """Return the outbox idempotency key of the `kind` notice for `event`."""
    return f"chain:{event.block_number}:{event.log_index}:{kind.value}"


def jst_time(timestamp: int) -> str:
    """Return a Unix time as the resident reads it: `2026-12-12 23:59 (JST)`."""
    return datetime.fromtimestamp(timestamp, UTC).astimezone(JST).strftime("%Y-%m-%d %H:%M (JST)")


def municipality_name(code: int | None) -> str:
    """Return the municipality's Japanese name, or its code when this deployment lacks it."""
    if code is None:
        return "-"
    text = f"{code:05d}"
    return _MUNICIPALITY_NAMES.get(text, text)


def _points(event: ChainEvent) -> str:
    return f"{event.amount or 0:,}"


_PLAIN_KINDS: dict[str, NoticeKind] = {
    "PointsGranted": NoticeKind.POINTS_GRANTED,
    "PointsExpired": NoticeKind.POINTS_EXPIRED,
    "MykeyRebound": NoticeKind.MYKEY_ID_CHANGED,  # re-bound to a renewed card
    "MykeyHomeChanged": NoticeKind.MYKEY_ID_CHANGED,
    "MykeyRevokedEvent": NoticeKind.MYKEY_ID_REVOKED,
}
"""Events whose notice needs only the MyKey ID, municipality and points."""


def notice_for(event: ChainEvent, args: Mapping[str, Any]) -> ChainNotice | None:
    """Return the notice `event` calls for, or None for events residents are not told about."""
    assert event.mykey_id is not None  # the caller passes only events naming a MyKey ID
    facts = {
        "mykey_id": event.mykey_id,
        "municipality": municipality_name(event.municipality),
        "points": _points(event),
    }
    kind = _PLAIN_KINDS.get(event.name)
    if event.name == "PointsConverted":
        kind = NoticeKind.POINTS_CONVERTED
        facts["deadline"] = jst_time(int(args["deadline"]))
    elif event.name == "ReservePlaced":
        kind = NoticeKind.RESERVE_WENT_HOME if args["automatic"] else NoticeKind.RESERVE_PLACED
        facts["expires_at"] = jst_time(int(args["expiresAt"]))
    return None if kind is None else ChainNotice(kind, facts)


def granted_through_api(db: Session, event: ChainEvent, args: Mapping[str, Any]) -> bool:
    """True when a PointsGranted event is a grant the API's grant service claimed (and noticed)."""
    reference = str(args.get("referenceHash", ""))
    reference = reference.removeprefix("0x")
    found = db.scalars(
        select(Grant.id).where(
            Grant.reference == reference,
            Grant.mykey_id == event.mykey_id,
            Grant.points == event.amount,
        )
    ).first()
    return found is not None


def enqueue_chain_notices(
    db: Session, events: Sequence[ChainEvent], *, now: int, mail_domain: str
) -> int:
    """Enqueue in `db`'s transaction the notices `events` call for; return the rows added.

    Safe to call again for the same events: the outbox key makes a repeat add nothing.
    """
    added = 0
    for event in events:
        if event.mykey_id is None:
            continue
        args: dict[str, Any] = json.loads(event.args_json)
        notice = notice_for(event, args)
        if notice is None:
            continue
        if notice.kind is NoticeKind.POINTS_GRANTED and granted_through_api(db, event, args):
            continue
        account = db.scalars(
            select(Account).where(Account.mykey_id == event.mykey_id)
        ).one_or_none()
        if account is None:
            continue  # a MyKey ID registered through another platform operator's store
        key = chain_notice_key(event, notice.kind)
        if db.scalars(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)).first():
            continue  # enqueued when this range was indexed before (or by a racing indexer)
        row = enqueue_notice(
            db=db,
            account=account,
            kind=notice.kind,
            idempotency_key=key,
            facts=notice.facts,
            now=now,
            mail_domain=mail_domain,
        )
        added += row is not None
    return added


class ChainNoticeHook:
    """The indexer's after-store hook: enqueue the notices of the events just stored."""

    def __init__(self, *, mail_domain: str, now: Callable[[], int]) -> None:
        self.mail_domain = mail_domain
        self.now = now

    def __call__(self, db: Session, events: Sequence[ChainEvent]) -> None:
        """Enqueue the notices of `events` in the indexer's transaction."""
        enqueue_chain_notices(db, events, now=self.now(), mail_domain=self.mail_domain)
