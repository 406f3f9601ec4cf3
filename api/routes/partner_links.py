"""Partner account links: the resident links or unlinks a member number; partners convert by it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentResident, DbDep, ServicesDep
from api.errors import FieldError, InvalidFields
from api.schemas.problems import Problem
from api.services.accounts import resident_actor
from api.services.partner_links import (
    link_partner,
    partner_links_of,
    unlink_partner,
)

router = APIRouter(tags=["partner links"])

PartnerId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The partner id on the ledger.")]


class PartnerLinkIn(BaseModel):
    """The resident links their member number at a partner, consenting to conversions by it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"partner": 1, "member_number": "M-0012345", "consent": True}]
        }
    )
    partner: int = Field(ge=1, le=2**63 - 1, description="The partner id on the ledger.")
    member_number: str = Field(max_length=64)
    consent: bool = Field(description="Must be true: the partner may convert by this number.")


class PartnerLinkOut(BaseModel):
    """One of the resident's own links (the number is shown only to the resident)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"partner": 1, "member_number": "M-0012345", "consented_at": 1800000000}]
        }
    )
    partner: int
    member_number: str
    consented_at: int


@router.post(
    "/me/partner-links",
    status_code=201,
    summary="Link a partner member number",
    response_model=PartnerLinkOut,
    responses={
        401: {"model": Problem},
        409: {"model": Problem, "description": "Linked to another MyKey ID."},
        422: {"model": Problem},
    },
)
def link(
    body: PartnerLinkIn, resident: CurrentResident, services: ServicesDep, db: DbDep
) -> PartnerLinkOut:
    """Link (or replace) the number at that partner; consent is recorded with the time."""
    if not body.consent:
        raise InvalidFields([FieldError.of("consent", "required")])
    now = services.clock.now()
    link_partner(
        db=db,
        cipher=services.cipher,
        hash_key=services.lookup_hash_key,
        actor=resident_actor(resident.account),
        account=resident.account,
        partner=body.partner,
        member_number=body.member_number,
        now=now,
    )
    return PartnerLinkOut(partner=body.partner, member_number=body.member_number, consented_at=now)


@router.get(
    "/me/partner-links",
    summary="My partner member numbers",
    response_model=list[PartnerLinkOut],
    responses={401: {"model": Problem}},
)
def my_links(resident: CurrentResident, services: ServicesDep, db: DbDep) -> list[PartnerLinkOut]:
    """The resident's links, by partner id."""
    return [
        PartnerLinkOut(**vars(linked))
        for linked in partner_links_of(db=db, cipher=services.cipher, account=resident.account)
    ]


@router.delete(
    "/me/partner-links/{partner}",
    status_code=204,
    summary="Unlink a partner member number",
    responses={401: {"model": Problem}, 404: {"model": Problem}},
)
def unlink(
    partner: PartnerId, resident: CurrentResident, services: ServicesDep, db: DbDep
) -> Response:
    """Remove the link; the partner can no longer convert by that number."""
    unlink_partner(
        db=db,
        actor=resident_actor(resident.account),
        account=resident.account,
        partner=partner,
        now=services.clock.now(),
    )
    return Response(status_code=204)
