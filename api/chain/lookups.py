"""Service-ID lookup at a counter (DOMAIN.md flow 2): the card in front of the terminal -> number.

A service (a library ...) is registered with the business that runs it; a resident links its
customer number with consent (encrypted at rest by api.services.service_links); the
municipality reports address changes (the date only). At the counter the terminal asks for a
challenge for one service, the card signs it, and the terminal gets that service's number only,
with the validity check (the customer card's end date) and the address-change flag (an address
change after the service last confirmed the address).

Invariants: a terminal gets only numbers of services its own business runs; a lookup challenge
is single-use, bound to the terminal and the service, and short-lived.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass

from sqlalchemy import select
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
    Service,
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
    db.add(AddressChange(account_id=account.id, changed_at=changed_at, reported_by=reported_by))
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
        .where(AddressChange.account_id == account.id, AddressChange.changed_at > confirmed_at)
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
