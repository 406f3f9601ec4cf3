"""Re-binding a MyKey ID to a renewed card, so the ID and its points survive a renewal.

DOMAIN.md flow 5: the auth certificate is valid until the holder's 5th birthday after issue, so a
renewed card (a new certificate and key) must be re-bound to the same MyKey ID. Two ways, the
two of card_bridge.platform_checks.binding: the resident proves the old binding with the previous
card and hands it to the renewed one (two challenge-responses; the previous card is checked with
`Purpose.PROVE_PREVIOUS_BINDING`, so its superseded or expired certificate still proves it), or
municipal staff of the home municipality re-bind after checking the resident in person (the
renewed card's challenge-response and a reason). Either way the platform calls
`MykeyRegistry.rebind` (same ID, same points, binding counter bumped) and the API's binding,
`Account.certificate_fingerprint` (what every card check in the API resolves), moves to the
renewed card. The "MyKey ID changed" e-mail follows from the indexed `MykeyRebound` event
(api.notices.chain_notices) for residents who chose it.

Invariants: every challenge is single-use, short-lived, and names its role (previous or renewed
card) and the MyKey ID, so an answer cannot be replayed for another role or resident; a card
already bound to a MyKey ID is never re-bound; a revoked MyKey ID is not re-activated here
(the contract's `rebind` would, so the status is checked first); the store's unique
fingerprint makes two racing re-bindings of one card end with one winner.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.cards import JpkiCardVerifier
from api.chain.actions import b64url
from api.chain.errors import MykeyIdNotRegistered, MykeyIdRevoked
from api.chain.side import ChainSide
from api.errors import CardAlreadyRegistered, ChallengeExpired, Conflict, Forbidden
from api.messages import Message
from api.ports import CardVerifier, TransactionHash, VerifiedCard
from api.services.audit import Actor, record_audit
from api.store.models import Account, CardChallenge

REBINDING_HEADER = "mykey-ledger/card-rebinding/v1"
MYKEY_ACTIVE = 1
MYKEY_REVOKED = 2


class CardRole(StrEnum):
    """Which card a re-binding challenge is for."""

    PREVIOUS = "previous-card"
    RENEWED = "renewed-card"


class PreviousCardNotBound(Conflict):
    """The card offered as the previous one is not the card bound to this MyKey ID."""

    slug = "previous-card-not-bound"
    title = "Previous card not bound to this MyKey ID"


@dataclass(frozen=True)
class RebindingChallenge:
    """A statement for one card to sign, naming its role and the MyKey ID."""

    role: CardRole
    challenge_id: str
    statement: bytes
    expires_at: int


@dataclass(frozen=True)
class CardProof:
    """A card's answer to one re-binding challenge."""

    challenge_id: str
    certificate_der: bytes
    signature: bytes


@dataclass(frozen=True)
class Rebinding:
    """A final re-binding."""

    mykey_id: str
    transaction_hash: TransactionHash
    certificate_not_after: int


def previous_card_verifier(cards: CardVerifier) -> CardVerifier:
    """Return the check for a previous card: the JPKI trust of `cards` with the tolerant purpose.

    Any other verifier (a test fake, the unavailable one) is used as it is.
    """
    if isinstance(cards, JpkiCardVerifier):
        return cards.for_previous_binding()
    return cards


def open_rebinding(
    *, db: Session, mykey_id: str, roles: tuple[CardRole, ...], now: int, ttl: int
) -> list[RebindingChallenge]:
    """Store and return one single-use challenge per role, each naming `mykey_id`."""
    opened = []
    for role in roles:
        challenge_id = secrets.token_urlsafe(32)
        expires_at = now + ttl
        statement = "\n".join(
            [
                REBINDING_HEADER,
                f"role={role.value}",
                f"mykey_id={mykey_id}",
                f"challenge={b64url(secrets.token_bytes(32))}",
                f"expires_at={expires_at}",
            ]
        ).encode("utf-8")
        db.add(
            CardChallenge(id=challenge_id, challenge=statement, expires_at=expires_at, used=False)
        )
        opened.append(RebindingChallenge(role, challenge_id, statement, expires_at))
    db.commit()
    return opened


def rebind_with_previous_card(
    *,
    db: Session,
    chain: ChainSide,
    cards: CardVerifier,
    account: Account,
    actor: Actor,
    previous: CardProof,
    renewed: CardProof,
    now: int,
) -> Rebinding:
    """Move `account`'s MyKey ID from its previous card to the renewed one (both just signed).

    Raises ChallengeExpired, the card checks' CardVerificationFailed, PreviousCardNotBound,
    CardAlreadyRegistered, MykeyIdRevoked, and the ledger's refusals.
    """
    previous_card = _verify(
        db,
        previous_card_verifier(cards),
        previous,
        role=CardRole.PREVIOUS,
        mykey_id=account.mykey_id,
        now=now,
    )
    renewed_card = _verify(
        db, cards, renewed, role=CardRole.RENEWED, mykey_id=account.mykey_id, now=now
    )
    if previous_card.certificate_fingerprint != account.certificate_fingerprint:
        raise PreviousCardNotBound(
            Message(
                "前のカードがこのマイキーIDに登録されたカードではありません。",
                f"the previous card offered is not the card bound to MyKey ID {account.mykey_id}",
            )
        )
    return _move_binding(
        db=db,
        chain=chain,
        account=account,
        renewed=renewed_card,
        actor=actor,
        detail={"method": "previous-card"},
        now=now,
    )


def rebind_by_municipality(
    *,
    db: Session,
    chain: ChainSide,
    cards: CardVerifier,
    mykey_id: str,
    municipality_code: str | None,
    actor: Actor,
    renewed: CardProof,
    reason: str,
    now: int,
) -> Rebinding:
    """Re-bind `mykey_id` to the renewed card after staff of its home municipality checked
    the resident in person.

    Raises MykeyIdNotRegistered, Forbidden (another municipality's resident), ChallengeExpired,
    CardVerificationFailed, CardAlreadyRegistered, MykeyIdRevoked, the ledger's refusals.
    """
    account = db.scalars(select(Account).where(Account.mykey_id == mykey_id)).one_or_none()
    if account is None:
        raise MykeyIdNotRegistered(
            Message("マイキーIDが見つかりません。", f"no MyKey ID {mykey_id} in this platform")
        )
    if municipality_code != account.home_municipality:
        raise Forbidden(
            Message(
                "住所地の自治体の職員のみが再登録できます。",
                f"MyKey ID {mykey_id} belongs to municipality {account.home_municipality}; "
                f"staff of {municipality_code} cannot re-bind it",
            )
        )
    renewed_card = _verify(db, cards, renewed, role=CardRole.RENEWED, mykey_id=mykey_id, now=now)
    return _move_binding(
        db=db,
        chain=chain,
        account=account,
        renewed=renewed_card,
        actor=actor,
        detail={"method": "municipality", "municipality": municipality_code, "reason": reason},
        now=now,
    )


def _verify(
    db: Session, cards: CardVerifier, proof: CardProof, *, role: CardRole, mykey_id: str, now: int
) -> VerifiedCard:
    """Spend the challenge (even when the answer is wrong) and verify the card's answer."""
    challenge = db.get(CardChallenge, proof.challenge_id)
    expected = f"{REBINDING_HEADER}\nrole={role.value}\nmykey_id={mykey_id}\n".encode()
    if (
        challenge is None
        or challenge.used
        or challenge.expires_at <= now
        or not challenge.challenge.startswith(expected)
    ):
        raise ChallengeExpired(
            Message(
                "カードの確認の有効期限が切れました。最初からやり直してください。",
                f"the {role.value} challenge is unknown, used, expired or for another "
                "MyKey ID; ask for new challenges",
            )
        )
    challenge.used = True
    db.commit()
    return cards.verify_challenge_response(
        challenge=challenge.challenge,
        certificate_der=proof.certificate_der,
        signature=proof.signature,
        now=now,
    )


def _move_binding(
    *,
    db: Session,
    chain: ChainSide,
    account: Account,
    renewed: VerifiedCard,
    actor: Actor,
    detail: dict[str, str | None],
    now: int,
) -> Rebinding:
    """Check the renewed card is free and the ID not revoked; rebind on-chain, then off-chain."""
    holder = db.scalars(
        select(Account.mykey_id).where(
            Account.certificate_fingerprint == renewed.certificate_fingerprint
        )
    ).first()
    if holder is not None:
        raise _card_taken()
    status, _home = chain.ledger.mykey_status(account.mykey_id)
    if status == MYKEY_REVOKED:
        raise MykeyIdRevoked(
            Message(
                "このマイキーIDは失効しています。再登録はできません。",
                f"MyKey ID {account.mykey_id} is revoked; it cannot be re-bound",
            )
        )
    if status != MYKEY_ACTIVE:
        raise MykeyIdNotRegistered(
            Message(
                "マイキーIDが台帳に登録されていません。",
                f"MyKey ID {account.mykey_id} is not on the ledger",
            )
        )
    transaction_hash = chain.ledger.rebind_mykey_id(account.mykey_id)
    account.certificate_fingerprint = renewed.certificate_fingerprint
    account.certificate_not_after = renewed.certificate_not_after
    record_audit(
        db=db,
        at=now,
        actor=actor,
        action="card-rebound",
        target=account.mykey_id,
        transaction_hash=transaction_hash,
        detail=detail,
    )
    try:
        db.commit()
    except IntegrityError:
        # The renewed card was bound elsewhere meanwhile; the on-chain counter bump is harmless.
        db.rollback()
        raise _card_taken() from None
    return Rebinding(account.mykey_id, transaction_hash, renewed.certificate_not_after)


def _card_taken() -> CardAlreadyRegistered:
    return CardAlreadyRegistered(
        Message(
            "新しいカードは既に別のマイキーIDに登録されています。",
            "the renewed card is already bound to a MyKey ID",
        )
    )
