"""Partner conversions and the resident's reserves: list, place with the card (DOMAIN.md flow 3)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.chain.actions import b64url
from api.chain.reserves import convert_points, open_placement, place_reserve, reserves_of
from api.deps import CurrentResident, DbDep, ServicesDep, staff_with_roles
from api.errors import FieldError, Forbidden, InvalidFields
from api.messages import Message
from api.routes.terminals import ChainDep
from api.services.partner_links import conversion_target
from api.services.staff import StaffRole
from api.store.models import StaffAccount
from contracts.domain import format_code

router = APIRouter(tags=["conversions"])
PartnerOperator = Annotated[StaffAccount, Depends(staff_with_roles(StaffRole.PARTNER_OPERATOR))]


class ConversionIn(BaseModel):
    """A member's partner points to convert into municipal points (reserved first)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"mykey_id": "A01B2C3D", "partner_units": 1000, "reference": "ord-1"},
                {"member_number": "M-0012345", "partner_units": 1000, "reference": "ord-2"},
            ]
        }
    )
    mykey_id: str | None = Field(
        default=None, pattern=r"^[A-Z0-9]{8}$", description="Give this or `member_number`."
    )
    member_number: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The partner's member number the resident linked on My Page (instead of "
        "`mykey_id`).",
    )
    partner_units: int = Field(ge=1, le=10_000_000)
    reference: str = Field(min_length=1, max_length=128, description="The partner's own id.")


class ConversionOut(BaseModel):
    """The reserve the conversion made."""

    reserve_id: int
    amount: int
    deadline: int = Field(description="Unix seconds; after it the points go home by themselves.")
    home_municipality: str
    transaction_hash: str


class ReserveOut(BaseModel):
    """A pending reserve of the logged-in resident."""

    reserve_id: int
    amount: int
    deadline: int
    home_municipality: str
    partner: int


class PlacementStatementIn(BaseModel):
    """Where the resident wants the reserve to go."""

    municipality_code: str = Field(pattern=r"^[0-9]{5}$")


class PlacementStatementOut(BaseModel):
    """The statement the card signs (base64url) to place the reserve."""

    challenge_id: str
    statement: str
    expires_at: int


class PlacementIn(BaseModel):
    """The card's answer to the placement statement."""

    challenge_id: str
    certificate: str = Field(description="DER certificate, standard base64")
    signature: str = Field(description="RSA signature, standard base64")


class PlacementOut(BaseModel):
    """A final placement."""

    reserve_id: int
    municipality_code: str
    transaction_hash: str


def partner_of(staff: StaffAccount) -> int:
    if staff.organisation is None or not staff.organisation.isdigit():
        raise Forbidden(
            Message(
                "このアカウントには提携事業者が設定されていません。",
                f"staff account {staff.login_name} names no partner id",
            )
        )
    return int(staff.organisation)


def _b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidFields([FieldError.of(field, "invalid")]) from None


@router.post(
    "/conversions",
    status_code=201,
    summary="Convert a member's partner points",
    response_model=ConversionOut,
)
def convert(
    body: ConversionIn, staff: PartnerOperator, services: ServicesDep, db: DbDep, chain: ChainDep
) -> ConversionOut:
    """Convert at the partner's on-chain rate; the points wait reserved until placed or due.

    The member is named by MyKey ID or by the member number they linked at this partner.
    """
    partner = partner_of(staff)
    mykey_id = conversion_target(
        db=db,
        hash_key=services.lookup_hash_key,
        partner=partner,
        mykey_id=body.mykey_id,
        member_number=body.member_number,
    )
    conversion = convert_points(
        db=db,
        chain=chain,
        partner=partner,
        operator=staff.login_name,
        mykey_id=mykey_id,
        partner_units=body.partner_units,
        reference=body.reference,
        now=services.clock.now(),
    )
    return ConversionOut(
        reserve_id=conversion.reserve_id,
        amount=conversion.amount,
        deadline=conversion.deadline,
        home_municipality=format_code(conversion.home_municipality),
        transaction_hash=conversion.transaction_hash,
    )


@router.get("/me/reserves", summary="My reserved points", response_model=list[ReserveOut])
def my_reserves(resident: CurrentResident, chain: ChainDep) -> list[ReserveOut]:
    """Pending reserves with their deadlines (past-deadline ones have gone home)."""
    return [
        ReserveOut(
            reserve_id=r.reserve_id,
            amount=r.amount,
            deadline=r.deadline,
            home_municipality=format_code(r.home),
            partner=r.partner,
        )
        for r in reserves_of(chain, resident.account.mykey_id)
    ]


@router.post(
    "/me/reserves/{reserve_id}/placement-statements",
    status_code=201,
    summary="Ask for the statement that places a reserve",
    response_model=PlacementStatementOut,
)
def placement_statement(
    *,
    reserve_id: int,
    body: PlacementStatementIn,
    resident: CurrentResident,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> PlacementStatementOut:
    """Return a single-use statement naming the reserve and the municipality, for the card."""
    opened = open_placement(
        db=db,
        chain=chain,
        account=resident.account,
        reserve_id=reserve_id,
        municipality=int(body.municipality_code),
        now=services.clock.now(),
        ttl=services.settings.challenge_ttl_seconds,
    )
    return PlacementStatementOut(
        challenge_id=opened.challenge_id,
        statement=b64url(opened.statement),
        expires_at=opened.expires_at,
    )


@router.post(
    "/me/reserves/{reserve_id}/placements",
    summary="Place a reserve with the card's signature",
    response_model=PlacementOut,
)
def place(
    *,
    reserve_id: int,
    body: PlacementIn,
    resident: CurrentResident,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> PlacementOut:
    """Verify the card, attest, place; answer once the receipt is final."""
    municipality, transaction_hash = place_reserve(
        db=db,
        chain=chain,
        cards=services.cards,
        account=resident.account,
        challenge_id=body.challenge_id,
        certificate_der=_b64(body.certificate, "certificate"),
        signature=_b64(body.signature, "signature"),
        now=services.clock.now(),
    )
    return PlacementOut(
        reserve_id=reserve_id,
        municipality_code=format_code(municipality),
        transaction_hash=transaction_hash,
    )
