"""Partner account links: a resident links a partner's member number to their MyKey ID.

DOMAIN.md flow 5: some partners link member accounts in advance, so a partner operator can later
convert a member's points by member number. The resident consents (the time is kept); the number
is sealed with the service-ID cipher (AES-GCM, bound to the account and `partner:<id>`) and kept
beside a keyed hash (HMAC-SHA256 with a key derived from the service-ID key file), so a lookup
by number never decrypts rows and the database alone reveals no number. Nothing goes on-chain.

Invariants: one member number per partner per resident (linking again replaces it); one resident
per (partner, member number) — a number already linked by someone else is refused, never moved;
each write is audited without the number itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Conflict, FieldError, InvalidFields, NotFound
from api.messages import Message
from api.service_id_cipher import SealedServiceId, ServiceIdCipher, load_or_create_key
from api.services.audit import Actor, record_audit
from api.store.models import Account, PartnerLink

MEMBER_NUMBER = re.compile(r"[\x21-\x7e]{1,64}")
"""A partner member number as printable ASCII text (only the number crosses the wire)."""

LOOKUP_HASH_LABEL = b"mykey-ledger/lookup-hash-key/v1"
"""Derives the HMAC key of lookup hashes from the service-ID key: one key file to protect."""


class MemberNumberNotLinked(NotFound):
    """No resident linked this member number at this partner."""

    slug = "member-number-not-linked"
    title = "Member number not linked"


class MemberNumberTaken(Conflict):
    """Another resident already linked this member number at this partner."""

    slug = "member-number-taken"
    title = "Member number linked to another MyKey ID"


@dataclass(frozen=True)
class LinkedPartner:
    """One of the resident's partner links, the number opened for the resident to see."""

    partner: int
    member_number: str
    consented_at: int


def derive_lookup_hash_key(service_id_key: bytes) -> bytes:
    """Return the HMAC key of lookup hashes, derived from the service-ID key."""
    return hmac.new(service_id_key, LOOKUP_HASH_LABEL, hashlib.sha256).digest()


def lookup_hash_key(service_id_key_file: Path) -> bytes:
    """Return the HMAC key of lookup hashes for the service-ID key in that file.

    The app derives it once at start (`Services.lookup_hash_key`); this reads the file.
    """
    return derive_lookup_hash_key(load_or_create_key(service_id_key_file))


def keyed_hash(key: bytes, domain: str, value: str) -> str:
    """Return hex HMAC-SHA256 of `value` in `domain` (e.g. `partner:7`); meaningless without key."""
    return hmac.new(key, f"{domain}\x00{value}".encode(), hashlib.sha256).hexdigest()


def _domain(partner: int) -> str:
    return f"partner:{partner}"


def link_partner(
    *,
    db: Session,
    cipher: ServiceIdCipher,
    hash_key: bytes,
    actor: Actor,
    account: Account,
    partner: int,
    member_number: str,
    now: int,
) -> PartnerLink:
    """Link (or replace) `account`'s member number at `partner`; consent is recorded at `now`.

    Raises InvalidFields for a malformed number, MemberNumberTaken when another resident has it.
    """
    if MEMBER_NUMBER.fullmatch(member_number) is None:
        raise InvalidFields([FieldError.of("member_number", "invalid")])
    digest = keyed_hash(hash_key, _domain(partner), member_number)
    holder = db.scalars(
        select(PartnerLink).where(
            PartnerLink.partner == partner, PartnerLink.member_number_hash == digest
        )
    ).one_or_none()
    if holder is not None and holder.account_id != account.id:
        raise _taken(partner)
    sealed = cipher.seal(
        account_id=account.id, service_code=_domain(partner), service_id=member_number
    )
    link = db.scalars(
        select(PartnerLink).where(
            PartnerLink.account_id == account.id, PartnerLink.partner == partner
        )
    ).one_or_none()
    if link is None:
        link = PartnerLink(account_id=account.id, partner=partner)
        db.add(link)
    link.member_number_hash = digest
    link.key_id = sealed.key_id
    link.nonce = sealed.nonce
    link.member_number_ciphertext = sealed.ciphertext
    link.consented_at = now
    record_audit(
        db=db, at=now, actor=actor, action="partner-link.linked", target=_target(account, partner)
    )
    try:
        db.commit()
    except IntegrityError:
        # Another resident linked the same number between our check and our commit.
        db.rollback()
        raise _taken(partner) from None
    return link


def unlink_partner(*, db: Session, actor: Actor, account: Account, partner: int, now: int) -> None:
    """Remove `account`'s link at `partner`; NotFound when there is none."""
    link = db.scalars(
        select(PartnerLink).where(
            PartnerLink.account_id == account.id, PartnerLink.partner == partner
        )
    ).one_or_none()
    if link is None:
        raise NotFound(
            Message(
                "この提携事業者の会員番号は連携されていません。",
                f"no member number is linked at partner {partner}",
            )
        )
    db.delete(link)
    record_audit(
        db=db, at=now, actor=actor, action="partner-link.unlinked", target=_target(account, partner)
    )
    db.commit()


def partner_links_of(
    *, db: Session, cipher: ServiceIdCipher, account: Account
) -> list[LinkedPartner]:
    """Return the resident's own links with the numbers opened, by partner id."""
    rows = db.scalars(
        select(PartnerLink)
        .where(PartnerLink.account_id == account.id)
        .order_by(PartnerLink.partner)
    ).all()
    return [
        LinkedPartner(
            partner=row.partner,
            member_number=cipher.open(
                account_id=account.id,
                service_code=_domain(row.partner),
                sealed=SealedServiceId(row.key_id, row.nonce, row.member_number_ciphertext),
            ),
            consented_at=row.consented_at,
        )
        for row in rows
    ]


def mykey_id_of_member(*, db: Session, hash_key: bytes, partner: int, member_number: str) -> str:
    """Return the MyKey ID that linked `member_number` at `partner`; MemberNumberNotLinked else."""
    digest = keyed_hash(hash_key, _domain(partner), member_number)
    mykey_id = db.scalars(
        select(Account.mykey_id)
        .join(PartnerLink, PartnerLink.account_id == Account.id)
        .where(PartnerLink.partner == partner, PartnerLink.member_number_hash == digest)
    ).one_or_none()
    if mykey_id is None:
        raise MemberNumberNotLinked(
            Message(
                "この会員番号はマイキーIDと連携されていません。会員に連携を依頼してください。",
                f"no resident linked this member number at partner {partner}; "
                "ask the member to link it on My Page",
            )
        )
    return mykey_id


def conversion_target(
    *,
    db: Session,
    hash_key: bytes,
    partner: int,
    mykey_id: str | None,
    member_number: str | None,
) -> str:
    """Return the MyKey ID a conversion is for: given directly, or found by member number.

    Exactly one of the two must be given (InvalidFields naming both otherwise); an unlinked
    member number raises MemberNumberNotLinked.
    """
    if (mykey_id is None) == (member_number is None):
        code = "required" if mykey_id is None else "one-of-mykey-id-or-member-number"
        raise InvalidFields(
            [
                FieldError("mykey_id", code, _ONE_OF),
                FieldError("member_number", code, _ONE_OF),
            ]
        )
    if mykey_id is not None:
        return mykey_id
    assert member_number is not None
    return mykey_id_of_member(
        db=db, hash_key=hash_key, partner=partner, member_number=member_number
    )


_ONE_OF = Message(
    "マイキーIDまたは会員番号のどちらか一方を入力してください。",
    "Give either mykey_id or member_number, not both and not neither.",
)


def _taken(partner: int) -> MemberNumberTaken:
    return MemberNumberTaken(
        Message(
            "この会員番号は別のマイキーIDと連携されています。提携事業者にお問い合わせください。",
            f"this member number at partner {partner} is linked to another MyKey ID",
        )
    )


def _target(account: Account, partner: int) -> str:
    return f"{account.mykey_id}/partner:{partner}"
