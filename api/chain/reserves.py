"""Conversions by partners and the resident's reserve: see it, place it (card), or let it go home.

A partner converts its member's points into a reserve (DOMAIN.md flow 3); the resident sees the
reserved points and their deadline, and may place them in a municipality of their choice by
signing a placement statement with the card (the platform attests it); otherwise at the deadline
they go home by themselves (the contracts evaluate that lazily by block time, no one acts).

Invariants: a placement statement is a single-use, short-lived challenge bound to one reserve and
one municipality; only the card bound to the logged-in resident's MyKey ID can place it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from api.chain.actions import b64url
from api.chain.errors import ActionExpired, LedgerRefused
from api.chain.ledger import ReserveView, tx_hash_of
from api.chain.side import ChainSide
from api.errors import CardVerificationFailed, NotFound
from api.messages import Message
from api.ports import CardVerifier, TransactionHash
from api.services.audit import Actor, ActorKind, record_audit
from api.store.models import Account, CardChallenge
from contracts.domain import Action

PLACEMENT_HEADER = "mykey-ledger/reserve-placement/v1"
RESERVE_PENDING = 1


@dataclass(frozen=True)
class Conversion:
    """A final conversion: the reserve it made."""

    reserve_id: int
    amount: int
    deadline: int
    home_municipality: int
    transaction_hash: TransactionHash


@dataclass(frozen=True)
class PlacementChallenge:
    """A statement for the card to sign, naming the reserve and where it goes."""

    challenge_id: str
    statement: bytes
    expires_at: int


def convert_points(
    *,
    db: Session,
    chain: ChainSide,
    partner: int,
    operator: str,
    mykey_id: str,
    partner_units: int,
    reference: str,
    now: int,
) -> Conversion:
    """Convert `partner_units` of `partner` for `mykey_id`; return the reserve once final."""
    sent = chain.ledger.convert(
        partner, mykey_id, partner_units, hashlib.sha256(reference.encode()).digest()
    )
    event = sent.event("PointsConverted")
    conversion = Conversion(
        reserve_id=int(event.args["reserveId"]),
        amount=int(event.args["amount"]),
        deadline=int(event.args["deadline"]),
        home_municipality=int(event.args["homeMunicipality"]),
        transaction_hash=tx_hash_of(sent),
    )
    record_audit(
        db=db,
        at=now,
        actor=Actor(ActorKind.STAFF, operator),
        action="partner-conversion",
        target=mykey_id,
        transaction_hash=conversion.transaction_hash,
        detail={"partner": partner, "units": partner_units, "reserve": conversion.reserve_id},
    )
    db.commit()
    return conversion


def reserves_of(chain: ChainSide, mykey_id: str) -> list[ReserveView]:
    """The resident's reserves still pending on the ledger."""
    return chain.ledger.pending_reserves(mykey_id)


def open_placement(
    *,
    db: Session,
    chain: ChainSide,
    account: Account,
    reserve_id: int,
    municipality: int,
    now: int,
    ttl: int,
) -> PlacementChallenge:
    """Return a placement statement for the card; NotFound unless the reserve is the resident's."""
    reserve = chain.ledger.reserve(reserve_id)
    if reserve.mykey_id != account.mykey_id or reserve.state != RESERVE_PENDING:
        raise NotFound(
            Message(
                "指定された予約ポイントはありません。",
                f"reserve {reserve_id} is not a pending reserve of this MyKey ID",
            )
        )
    challenge_id = secrets.token_urlsafe(32)
    expires_at = now + ttl
    statement = "\n".join(
        [
            PLACEMENT_HEADER,
            f"reserve_id={reserve_id}",
            f"mykey_id={account.mykey_id}",
            f"municipality={municipality:05d}",
            f"amount={reserve.amount}",
            f"challenge={b64url(secrets.token_bytes(32))}",
            f"expires_at={expires_at}",
        ]
    ).encode("utf-8")
    db.add(CardChallenge(id=challenge_id, challenge=statement, expires_at=expires_at, used=False))
    db.commit()
    return PlacementChallenge(challenge_id, statement, expires_at)


def _fields(statement: bytes) -> dict[str, str]:
    lines = statement.decode("utf-8").split("\n")
    return dict(line.split("=", 1) for line in lines[1:])


def place_reserve(
    *,
    db: Session,
    chain: ChainSide,
    cards: CardVerifier,
    account: Account,
    challenge_id: str,
    certificate_der: bytes,
    signature: bytes,
    now: int,
) -> tuple[int, TransactionHash]:
    """Verify the card's signature over the placement statement and place; return (m, hash)."""
    challenge = db.get(CardChallenge, challenge_id)
    if challenge is None or challenge.used or challenge.expires_at < now:
        raise ActionExpired(
            Message(
                "確認の有効期限が切れました。最初からやり直してください。",
                "the placement statement is unknown, used or expired; ask for a new one",
            )
        )
    challenge.used = True
    db.commit()
    if not challenge.challenge.startswith(PLACEMENT_HEADER.encode()):
        raise ActionExpired(Message("確認が無効です。", "this challenge is not a placement"))
    card = cards.verify_challenge_response(
        challenge=challenge.challenge,
        certificate_der=certificate_der,
        signature=signature,
        now=now,
    )
    if card.certificate_fingerprint != account.certificate_fingerprint:
        raise CardVerificationFailed(
            Message(
                "ログイン中のマイキーIDのカードではありません。",
                "this card is not the one bound to the logged-in MyKey ID",
            )
        )
    fields = _fields(challenge.challenge)
    reserve_id, municipality = int(fields["reserve_id"]), int(fields["municipality"])
    signed = chain.attestor.attest(
        action=Action.PLACE_RESERVE,
        mykey_id=account.mykey_id,
        municipality=municipality,
        amount=int(fields["amount"]),
        business=0,
        evidence=challenge.challenge + signature,
    )
    sent = chain.ledger.place_reserve(reserve_id, signed)
    if not sent.named("ReservePlaced"):
        raise LedgerRefused(Message("予約ポイントを置けませんでした。", "no ReservePlaced event"))
    transaction_hash = tx_hash_of(sent)
    record_audit(
        db=db,
        at=now,
        actor=Actor(ActorKind.RESIDENT, account.mykey_id),
        action="reserve-placed",
        target=str(reserve_id),
        transaction_hash=transaction_hash,
        detail={"municipality": f"{municipality:05d}"},
    )
    db.commit()
    return municipality, transaction_hash
