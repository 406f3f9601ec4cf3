"""The SQL `BindingStore` of card_bridge's BindingService: card -> MyKey ID bindings, off-chain.

Each method runs in its own transaction; `add` and `replace` check and write inside one, so a
binding is added whole or not at all, and (SQLite serialising writers, PostgreSQL rows locked by
`FOR UPDATE`) two concurrent binds of the same card cannot both succeed. Times are stored as
Unix seconds (UTC) like the rest of the store.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.store.database import Store
from api.store.models import ACTIVE_CARD_INDEX, CardBinding
from card_bridge.platform_checks.binding import (
    Binding,
    BindingMethod,
    CardAlreadyBound,
    CardKeyId,
    CardNotBound,
    MykeyId,
    MykeyIdAlreadyBound,
)


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _binding(row: CardBinding) -> Binding:
    return Binding(
        card_key_id=CardKeyId(bytes(row.card_key_id)),
        mykey_id=MykeyId(row.mykey_id),
        bound_at=datetime.fromtimestamp(row.bound_at, tz=UTC),
        method=BindingMethod(row.method),
        municipality_code=row.municipality_code,
        retired_at=None
        if row.retired_at is None
        else datetime.fromtimestamp(row.retired_at, tz=UTC),
    )


def _active_card(db: Session, card_key_id: bytes) -> CardBinding | None:
    return db.scalars(
        select(CardBinding)
        .where(CardBinding.card_key_id == card_key_id, CardBinding.retired_at.is_(None))
        .with_for_update()
    ).first()


def _active_mykey(db: Session, mykey_id: str) -> CardBinding | None:
    return db.scalars(
        select(CardBinding)
        .where(CardBinding.mykey_id == mykey_id, CardBinding.retired_at.is_(None))
        .with_for_update()
    ).first()


def _row(binding: Binding) -> CardBinding:
    return CardBinding(
        card_key_id=bytes(binding.card_key_id),
        mykey_id=binding.mykey_id,
        bound_at=_seconds(binding.bound_at),
        method=binding.method.value,
        municipality_code=binding.municipality_code,
        retired_at=None if binding.retired_at is None else _seconds(binding.retired_at),
    )


def _card_bound() -> CardAlreadyBound:
    return CardAlreadyBound("this card is already bound to a MyKey ID")


def _mykey_bound(mykey_id: str) -> MykeyIdAlreadyBound:
    return MykeyIdAlreadyBound(f"MyKey ID {mykey_id} already has a card")


def _insert(db: Session, binding: Binding) -> None:
    """Add the row; a concurrent bind that passed the same checks loses on the unique indexes."""
    db.add(_row(binding))
    try:
        db.flush()
    except IntegrityError as clash:
        text = str(clash.orig)
        if ACTIVE_CARD_INDEX in text or "card_key_id" in text:
            raise _card_bound() from None
        raise _mykey_bound(binding.mykey_id) from None


class SqlBindingStore:
    """`card_bridge.platform_checks.binding.BindingStore` over the private store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def active_by_card(self, card_key_id: CardKeyId) -> Binding | None:
        """Return the active binding of this card, or None."""
        with self._store.sessions() as db:
            row = _active_card(db, card_key_id)
            return None if row is None else _binding(row)

    def active_by_mykey_id(self, mykey_id: MykeyId) -> Binding | None:
        """Return the active binding of this MyKey ID, or None."""
        with self._store.sessions() as db:
            row = _active_mykey(db, mykey_id)
            return None if row is None else _binding(row)

    def add(self, binding: Binding) -> None:
        """Store a new binding; raise CardAlreadyBound or MykeyIdAlreadyBound on a conflict."""
        with self._store.sessions() as db, db.begin():
            if _active_card(db, binding.card_key_id) is not None:
                raise _card_bound()
            if _active_mykey(db, binding.mykey_id) is not None:
                raise _mykey_bound(binding.mykey_id)
            _insert(db, binding)

    def replace(self, retired: CardKeyId, binding: Binding) -> None:
        """Retire `retired` and add `binding` in one transaction (both or neither)."""
        with self._store.sessions() as db, db.begin():
            old = _active_card(db, retired)
            if old is None:
                raise CardNotBound("the card to be replaced has no active binding")
            if _active_card(db, binding.card_key_id) is not None:
                raise CardAlreadyBound("the renewed card is already bound to a MyKey ID")
            old.retired_at = _seconds(binding.bound_at)
            db.flush()  # retire first: the active-row indexes see one row per card at a time
            _insert(db, binding)
