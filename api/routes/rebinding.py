"""Re-binding a MyKey ID to a renewed card: by the resident with both cards, or by staff."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.chain.actions import b64url
from api.deps import CurrentResident, DbDep, ServicesDep, staff_with_roles
from api.errors import FieldError, InvalidFields
from api.routes.terminals import ChainDep
from api.schemas.problems import Problem
from api.services.accounts import resident_actor
from api.services.rebinding import (
    CardProof,
    CardRole,
    Rebinding,
    RebindingChallenge,
    open_rebinding,
    rebind_by_municipality,
    rebind_with_previous_card,
)
from api.services.staff import StaffRole, staff_actor
from api.store.models import StaffAccount

router = APIRouter(tags=["card re-binding"])
MunicipalStaff = Annotated[StaffAccount, Depends(staff_with_roles(StaffRole.MUNICIPAL_STAFF))]

_ANSWER_EXAMPLE: JsonDict = {
    "challenge_id": "kq3…",
    "certificate": "MIIE…",
    "signature": "Zm9v…",
}


class RebindingChallengeOut(BaseModel):
    """A statement (base64url) for one card to sign; `role` says which card."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "role": "renewed-card",
                    "challenge_id": "p0Z…",
                    "statement": "bXlrZXkt…",
                    "expires_at": 1800000300,
                }
            ]
        }
    )

    role: str = Field(description="`previous-card` or `renewed-card`.")
    challenge_id: str
    statement: str
    expires_at: int


class RebindingChallengesOut(BaseModel):
    """The challenges to answer, one per card."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "challenges": [
                        {
                            "role": "previous-card",
                            "challenge_id": "kq3…",
                            "statement": "bXlrZXkt…",
                            "expires_at": 1800000300,
                        },
                        {
                            "role": "renewed-card",
                            "challenge_id": "p0Z…",
                            "statement": "bXlrZXkt…",
                            "expires_at": 1800000300,
                        },
                    ]
                }
            ]
        }
    )
    challenges: list[RebindingChallengeOut]


class CardAnswerIn(BaseModel):
    """One card's answer to its challenge."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ANSWER_EXAMPLE]})
    challenge_id: str = Field(max_length=64)
    certificate: str = Field(description="DER certificate, standard base64")
    signature: str = Field(description="RSA signature, standard base64")


class ResidentRebindingIn(BaseModel):
    """Both cards' answers: the previous card proves the binding, the renewed card takes it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"previous_card": _ANSWER_EXAMPLE, "renewed_card": _ANSWER_EXAMPLE}]
        }
    )
    previous_card: CardAnswerIn
    renewed_card: CardAnswerIn


class StaffChallengeIn(BaseModel):
    """The resident whose renewed card staff are about to re-bind."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"mykey_id": "A01B2C3D"}]})
    mykey_id: str = Field(pattern=r"^[A-Z0-9]{8}$")


class StaffRebindingIn(BaseModel):
    """After an in-person check: the MyKey ID, the renewed card's answer, and why."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mykey_id": "A01B2C3D",
                    "renewed_card": _ANSWER_EXAMPLE,
                    "reason": "カード更新（窓口で本人確認済み）",
                }
            ]
        }
    )
    mykey_id: str = Field(pattern=r"^[A-Z0-9]{8}$")
    renewed_card: CardAnswerIn
    reason: str = Field(min_length=1, max_length=200)


class RebindingOut(BaseModel):
    """A final re-binding: same MyKey ID and points, the renewed card now bound."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mykey_id": "A01B2C3D",
                    "transaction_hash": "0x" + "ab" * 32,
                    "certificate_not_after": 1957000000,
                }
            ]
        }
    )
    mykey_id: str
    transaction_hash: str
    certificate_not_after: int


_PROBLEMS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "Not logged in, or a card answer did not verify."},
    403: {"model": Problem, "description": "Wrong role, or the MyKey ID is revoked."},
    409: {"model": Problem, "description": "Renewed card already bound; previous card wrong."},
    410: {"model": Problem, "description": "Challenge unknown, used or expired."},
    422: {"model": Problem},
    503: {"model": Problem},
}


def _decode(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidFields([FieldError.of(field, "invalid")]) from None


def _proof(answer: CardAnswerIn, field: str) -> CardProof:
    return CardProof(
        answer.challenge_id,
        _decode(answer.certificate, f"{field}.certificate"),
        _decode(answer.signature, f"{field}.signature"),
    )


def _challenges(opened: list[RebindingChallenge]) -> RebindingChallengesOut:
    return RebindingChallengesOut(
        challenges=[
            RebindingChallengeOut(
                role=item.role.value,
                challenge_id=item.challenge_id,
                statement=b64url(item.statement),
                expires_at=item.expires_at,
            )
            for item in opened
        ]
    )


def _out(rebinding: Rebinding) -> RebindingOut:
    return RebindingOut(**vars(rebinding))


@router.post(
    "/me/card-rebindings/challenges",
    status_code=201,
    summary="Challenges for the previous and the renewed card",
    response_model=RebindingChallengesOut,
    responses={401: {"model": Problem}},
)
def resident_challenges(
    resident: CurrentResident, services: ServicesDep, db: DbDep
) -> RebindingChallengesOut:
    """Two single-use statements naming this MyKey ID: one per card."""
    return _challenges(
        open_rebinding(
            db=db,
            mykey_id=resident.account.mykey_id,
            roles=(CardRole.PREVIOUS, CardRole.RENEWED),
            now=services.clock.now(),
            ttl=services.settings.challenge_ttl_seconds,
        )
    )


@router.post(
    "/me/card-rebindings",
    summary="Re-bind my MyKey ID to my renewed card",
    response_model=RebindingOut,
    responses=_PROBLEMS,
)
def resident_rebinding(
    body: ResidentRebindingIn,
    resident: CurrentResident,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> RebindingOut:
    """The previous card proves the binding; the renewed card takes it; points stay."""
    return _out(
        rebind_with_previous_card(
            db=db,
            chain=chain,
            cards=services.cards,
            account=resident.account,
            actor=resident_actor(resident.account),
            previous=_proof(body.previous_card, "previous_card"),
            renewed=_proof(body.renewed_card, "renewed_card"),
            now=services.clock.now(),
        )
    )


@router.post(
    "/staff/card-rebindings/challenges",
    status_code=201,
    summary="A challenge for a resident's renewed card (municipal staff)",
    response_model=RebindingChallengesOut,
    responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
)
def staff_challenge(
    body: StaffChallengeIn, staff: MunicipalStaff, services: ServicesDep, db: DbDep
) -> RebindingChallengesOut:
    """One single-use statement naming the MyKey ID, for the renewed card at the counter."""
    return _challenges(
        open_rebinding(
            db=db,
            mykey_id=body.mykey_id,
            roles=(CardRole.RENEWED,),
            now=services.clock.now(),
            ttl=services.settings.challenge_ttl_seconds,
        )
    )


@router.post(
    "/staff/card-rebindings",
    summary="Re-bind a resident's MyKey ID after an in-person check (municipal staff)",
    response_model=RebindingOut,
    responses={**_PROBLEMS, 404: {"model": Problem}},
)
def staff_rebinding(
    body: StaffRebindingIn,
    staff: MunicipalStaff,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> RebindingOut:
    """For a resident of the staff member's municipality whose previous card is lost or expired."""
    return _out(
        rebind_by_municipality(
            db=db,
            chain=chain,
            cards=services.cards,
            mykey_id=body.mykey_id,
            municipality_code=staff.organisation,
            actor=staff_actor(staff),
            renewed=_proof(body.renewed_card, "renewed_card"),
            reason=body.reason,
            now=services.clock.now(),
        )
    )
