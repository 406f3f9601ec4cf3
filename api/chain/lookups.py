"""Service-ID lookup at a counter (DOMAIN.md flow 2): the card in front of the terminal -> number.

A service (a library ...) is registered with the business that runs it; a resident links its
customer number with consent (encrypted at rest by api.services.service_links); the
municipality reports address changes (the date only). At the counter the terminal asks for a
challenge for one service, the card signs it, and the terminal gets that service's number only,
with the validity check (the customer card's end date) and the address-change flag (an address
change after the service last confirmed the address).

The service learns of address changes within a day without a card at the counter: its lookup
terminal reads the feed of changes (`address_changes_for`) of residents linked at the services
its business runs, and confirms each once the service has updated its records
(`confirm_address_change`); from then on that service's lookups no longer flag the change,
while other services still see it until they confirm.

Invariants: a terminal gets only numbers of services its own business runs; a lookup challenge
is single-use, bound to the terminal and the service, and short-lived; a confirmation is per
(change, service), so one service's confirmation never hides a change from another.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.chain.actions import CardAnswer, claim_action, identify_resident
from api.chain.errors import ServiceLinkMissing, TerminalWrongKind
from api.chain.ledger import TerminalRegistration
from api.errors import Gone, NotFound
from api.messages import Message
from api.ports import CardVerifier
from api.service_id_cipher import ServiceIdCipher
from api.services.audit import Actor, ActorKind, record_audit
from api.services.service_links import link_service, lookup_service_id
from api.store.models import (
    Account,
    AddressChange,
    AddressChangeConfirmation,
    Service,
    ServiceLink,
    ServiceLinkState,
    TerminalAction,
)

LOOKUP_TTL_SECONDS = 120
JST_OFFSET_SECONDS = 9 * 3600


class ServiceLinkExpired(Gone):
    """The service says the customer card is no longer valid."""

    slug = "service-link-expired"
    title = "Customer card no longer valid"


@dataclass(frozen=True)
class LookupChallenge:
    """A challenge for the card, bound to one terminal and one service."""

    challenge_id: str
    challenge: bytes
    expires_at: int


@dataclass(frozen=True)
class LookupResult:
    """What the terminal gets: this service's number and the checks."""

    service_code: str
    service_name: str
    service_id: str
    valid_on: str
    address_changed: bool
    address_changed_on: str | None


def jst_day(timestamp: int) -> str:
    """Return the Japan-time calendar day of `timestamp` as YYYY-MM-DD."""
    moment = datetime.datetime.fromtimestamp(timestamp + JST_OFFSET_SECONDS, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d")


def register_service(
    *, db: Session, service_code: str, business: int, name: str, actor: Actor, now: int
) -> Service:
    """Register (or update) a service and the business that runs it."""
    service = db.get(Service, service_code)
    if service is None:
        service = Service(service_code=service_code, business=business, name=name, created_at=now)
        db.add(service)
    service.business = business
    service.name = name
    record_audit(db=db, at=now, actor=actor, action="service-registered", target=service_code)
    db.commit()
    return service


def link_with_consent(
    *,
    db: Session,
    cipher: ServiceIdCipher,
    actor: Actor,
    account: Account,
    service_code: str,
    service_id: str,
    valid_until: int | None,
    now: int,
) -> None:
    """Link the customer number (encrypted) with its validity; the address counts as confirmed."""
    if db.get(Service, service_code) is None:
        raise NotFound(
            Message(
                "このサービスは登録されていません。", f"no service {service_code} is registered"
            )
        )
    link_service(
        db=db,
        cipher=cipher,
        actor=actor,
        account=account,
        service_code=service_code,
        service_id=service_id,
        now=now,
    )
    state = db.scalars(
        select(ServiceLinkState).where(
            ServiceLinkState.account_id == account.id,
            ServiceLinkState.service_code == service_code,
        )
    ).one_or_none()
    if state is None:
        state = ServiceLinkState(account_id=account.id, service_code=service_code)
        db.add(state)
    state.valid_until = valid_until
    state.address_confirmed_at = now
    db.commit()


def report_address_change(
    *, db: Session, mykey_id: str, changed_at: int, reported_by: str, now: int
) -> None:
    """Record that the resident's address changed (the date only, never the address)."""
    account = db.scalars(select(Account).where(Account.mykey_id == mykey_id)).one_or_none()
    if account is None:
        raise NotFound(Message("マイキーIDが見つかりません。", f"no MyKey ID {mykey_id}"))
    db.add(
        AddressChange(
            account_id=account.id,
            changed_at=changed_at,
            reported_by=reported_by,
            reported_at=now,
        )
    )
    record_audit(
        db=db,
        at=now,
        actor=Actor(ActorKind.STAFF, reported_by),
        action="address-change-reported",
        target=mykey_id,
    )
    db.commit()


def open_lookup(
    *, db: Session, terminal: TerminalRegistration, service_code: str, now: int
) -> LookupChallenge:
    """Return a challenge for `service_code`; TerminalWrongKind unless the business runs it."""
    service = db.get(Service, service_code)
    if service is None or service.business != terminal.owner_id:
        raise TerminalWrongKind(
            Message(
                "この端末ではこのサービスの番号を照会できません。",
                f"terminal {terminal.address} belongs to business {terminal.owner_id}, "
                f"which does not run service {service_code}",
            )
        )
    challenge = secrets.token_bytes(32)
    challenge_id = secrets.token_urlsafe(24)
    db.add(
        TerminalAction(
            id=challenge_id,
            kind="lookup",
            terminal=terminal.address,
            business=terminal.owner_id,
            amount=0,
            statement=challenge,
            expires_at=now + LOOKUP_TTL_SECONDS,
            state="open",
            service_code=service_code,
            created_at=now,
        )
    )
    db.commit()
    return LookupChallenge(challenge_id, challenge, now + LOOKUP_TTL_SECONDS)


def answer_lookup(
    *,
    db: Session,
    cipher: ServiceIdCipher,
    cards: CardVerifier,
    terminal: TerminalRegistration,
    challenge_id: str,
    answer: CardAnswer,
    now: int,
) -> LookupResult:
    """Verify the card and return the service's number with its checks.

    Raises ActionExpired, the card's refusals, MykeyIdNotRegistered, ServiceLinkMissing,
    ServiceLinkExpired.
    """
    action = claim_action(
        db=db, kind="lookup", action_id=challenge_id, terminal=terminal.address, now=now
    )
    action.state = "done"
    db.commit()
    mykey_id, _fingerprint = identify_resident(
        db=db, cards=cards, action=action, answer=answer, now=now
    )
    account = db.scalars(select(Account).where(Account.mykey_id == mykey_id)).one()
    service_code = str(action.service_code)
    service = db.get(Service, service_code)
    number = lookup_service_id(db=db, cipher=cipher, account=account, service_code=service_code)
    if number is None or service is None:
        raise ServiceLinkMissing(
            Message(
                "このサービスの番号は登録されていません。",
                f"MyKey ID {mykey_id} has no number at {service_code}",
            )
        )
    state = db.scalars(
        select(ServiceLinkState).where(
            ServiceLinkState.account_id == account.id,
            ServiceLinkState.service_code == service_code,
        )
    ).one_or_none()
    if state is not None and state.valid_until is not None and state.valid_until < now:
        raise ServiceLinkExpired(
            Message(
                "このサービスのカードは有効期限が切れています。",
                f"the {service_code} card of this resident ended on {jst_day(state.valid_until)}",
            )
        )
    confirmed_at = 0 if state is None else state.address_confirmed_at
    latest_change = db.scalars(
        select(AddressChange.changed_at)
        .where(
            AddressChange.account_id == account.id,
            AddressChange.changed_at > confirmed_at,
            ~_confirmed_by(service_code),
        )
        .order_by(AddressChange.changed_at.desc())
    ).first()
    record_audit(
        db=db,
        at=now,
        actor=Actor(ActorKind.SYSTEM, f"terminal {terminal.address}"),
        action="service-id-lookup",
        target=f"{mykey_id}/{service_code}",
    )
    db.commit()
    return LookupResult(
        service_code=service_code,
        service_name=service.name,
        service_id=number,
        valid_on=jst_day(now),
        address_changed=latest_change is not None,
        address_changed_on=None if latest_change is None else jst_day(latest_change),
    )


@dataclass(frozen=True)
class AddressChangeNotice:
    """One address change a service has not yet confirmed, named by its customer number."""

    change_id: int
    service_code: str
    service_id: str
    changed_on: str
    reported_at: int


def _confirmed_by(service_code: str) -> ColumnElement[bool]:
    """SQL: this address change was confirmed by `service_code`."""
    return exists().where(
        AddressChangeConfirmation.address_change_id == AddressChange.id,
        AddressChangeConfirmation.service_code == service_code,
    )


def address_changes_for(
    *, db: Session, cipher: ServiceIdCipher, terminal: TerminalRegistration, since: int
) -> list[AddressChangeNotice]:
    """Return the unconfirmed changes reported at or after `since` for residents linked at the
    services `terminal`'s business runs, oldest first.

    Only changes after the service last had the address (linking counts) are listed.
    """
    reported = func.coalesce(AddressChange.reported_at, AddressChange.changed_at)
    rows = db.execute(
        select(AddressChange, ServiceLinkState.service_code, reported)
        .join(ServiceLinkState, ServiceLinkState.account_id == AddressChange.account_id)
        .join(Service, Service.service_code == ServiceLinkState.service_code)
        .where(
            Service.business == terminal.owner_id,
            reported >= since,
            AddressChange.changed_at > ServiceLinkState.address_confirmed_at,
            ~exists().where(
                AddressChangeConfirmation.address_change_id == AddressChange.id,
                AddressChangeConfirmation.service_code == ServiceLinkState.service_code,
            ),
        )
        .order_by(reported, AddressChange.id, ServiceLinkState.service_code)
    ).all()
    notices = []
    for change, service_code, reported_at in rows:
        account = db.get(Account, change.account_id)
        assert account is not None  # the foreign key cascades deletes
        number = lookup_service_id(db=db, cipher=cipher, account=account, service_code=service_code)
        if number is None:
            continue  # validity known but the number was never linked: nothing to name
        notices.append(
            AddressChangeNotice(
                change_id=change.id,
                service_code=service_code,
                service_id=number,
                changed_on=jst_day(change.changed_at),
                reported_at=int(reported_at),
            )
        )
    return notices


def confirm_address_change(
    *,
    db: Session,
    terminal: TerminalRegistration,
    change_id: int,
    service_code: str,
    now: int,
) -> None:
    """Record that `service_code` (run by the terminal's business) updated its records.

    Confirming twice is harmless. Raises NotFound unless the change is of a resident linked at
    that service and the service is the terminal's business's.
    """
    change = db.get(AddressChange, change_id)
    service = db.get(Service, service_code)
    linked = (
        None
        if change is None
        else db.scalars(
            select(ServiceLink.id).where(
                ServiceLink.account_id == change.account_id,
                ServiceLink.service_code == service_code,
            )
        ).first()
    )
    if change is None or service is None or service.business != terminal.owner_id or not linked:
        raise NotFound(
            Message(
                "この住所変更は見つかりません。",
                f"no address change {change_id} of a resident linked at {service_code} "
                f"(a service of business {terminal.owner_id})",
            )
        )
    already = db.scalars(
        select(AddressChangeConfirmation.id).where(
            AddressChangeConfirmation.address_change_id == change_id,
            AddressChangeConfirmation.service_code == service_code,
        )
    ).first()
    if already is not None:
        return
    db.add(
        AddressChangeConfirmation(
            address_change_id=change_id,
            service_code=service_code,
            confirmed_at=now,
            confirmed_by=terminal.address,
        )
    )
    record_audit(
        db=db,
        at=now,
        actor=Actor(ActorKind.SYSTEM, f"terminal {terminal.address}"),
        action="address-change-confirmed",
        target=f"{change_id}/{service_code}",
    )
    try:
        db.commit()
    except IntegrityError:
        db.rollback()  # the same confirmation, sent twice at once: one row is what counts
