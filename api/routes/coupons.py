"""One-off coupon codes: partners issue and list batches, residents redeem a code (flow 5)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentResident, DbDep, ServicesDep
from api.routes.conversions import ConversionOut, PartnerOperator, partner_of
from api.schemas.problems import Problem
from api.services.accounts import resident_actor
from api.services.coupons import (
    MAX_BATCH,
    MAX_PARTNER_UNITS,
    batches_of,
    issue_batch,
    redeem_coupon,
)
from api.services.staff import staff_actor
from contracts.domain import format_code

router = APIRouter(tags=["coupons"])


class CouponBatchIn(BaseModel):
    """A batch of one-off codes to issue, each worth `partner_units` once, until `expires_at`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"count": 100, "partner_units": 500, "expires_at": 1830000000}]
        }
    )
    count: int = Field(description=f"1 to {MAX_BATCH} codes.")
    partner_units: int = Field(description=f"1 to {MAX_PARTNER_UNITS:,} partner units per code.")
    expires_at: int = Field(
        ge=0, le=2**62, description="Unix seconds; after it the codes convert nothing."
    )


class CouponBatchOut(BaseModel):
    """The issued batch with its codes: shown this once, stored only as keyed hashes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_id": 3,
                    "partner": 1,
                    "partner_units": 500,
                    "expires_at": 1830000000,
                    "codes": ["7K3M-Q9XW-2HRT-B4N*", "0ZP8-MC1D-V6AE-KG5S"],
                }
            ]
        }
    )
    batch_id: int
    partner: int
    partner_units: int
    expires_at: int
    codes: list[str] = Field(description="XXXX-XXXX-XXXX-XXXC: Crockford base32, check last.")


class CouponBatchSummaryOut(BaseModel):
    """A batch's counts; never its codes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_id": 3,
                    "partner_units": 500,
                    "expires_at": 1830000000,
                    "created_at": 1800000000,
                    "issued": 100,
                    "used": 41,
                    "expired": 0,
                }
            ]
        }
    )
    batch_id: int
    partner_units: int
    expires_at: int
    created_at: int
    issued: int
    used: int
    expired: int = Field(description="Codes left unused when the batch expired.")


class CouponRedemptionIn(BaseModel):
    """A code the resident typed (case, hyphens and spaces do not matter)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "7K3M-Q9XW-2HRT-B4N*"}]})
    code: str = Field(max_length=64)


_PARTNER_PROBLEMS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem},
    403: {"model": Problem, "description": "Not a partner operator."},
    422: {"model": Problem},
}


@router.post(
    "/partners/coupons",
    status_code=201,
    summary="Issue a batch of one-off coupon codes",
    response_model=CouponBatchOut,
    responses=_PARTNER_PROBLEMS,
)
def issue(
    body: CouponBatchIn, staff: PartnerOperator, services: ServicesDep, db: DbDep
) -> CouponBatchOut:
    """Issue the codes; they are returned only in this response (store them safely)."""
    issued = issue_batch(
        db=db,
        hash_key=services.lookup_hash_key,
        actor=staff_actor(staff),
        partner=partner_of(staff),
        count=body.count,
        partner_units=body.partner_units,
        expires_at=body.expires_at,
        now=services.clock.now(),
    )
    return CouponBatchOut(**vars(issued))


@router.get(
    "/partners/coupons",
    summary="This partner's coupon batches with counts",
    response_model=list[CouponBatchSummaryOut],
    responses=_PARTNER_PROBLEMS,
)
def list_batches(
    staff: PartnerOperator, services: ServicesDep, db: DbDep
) -> list[CouponBatchSummaryOut]:
    """Newest first: codes issued, used, and left unused at expiry."""
    return [
        CouponBatchSummaryOut(**vars(summary))
        for summary in batches_of(db=db, partner=partner_of(staff), now=services.clock.now())
    ]


@router.post(
    "/me/coupon-redemptions",
    status_code=201,
    summary="Redeem a one-off coupon code into reserved points",
    response_model=ConversionOut,
    responses={
        401: {"model": Problem},
        404: {"model": Problem, "description": "No coupon has this code."},
        410: {"model": Problem, "description": "The code is used or expired."},
        422: {"model": Problem, "description": "Malformed code or a typo (check symbol)."},
        429: {"model": Problem, "description": "Too many wrong codes; see Retry-After."},
        503: {"model": Problem},
    },
)
def redeem(
    body: CouponRedemptionIn,
    request: Request,
    resident: CurrentResident,
    services: ServicesDep,
    db: DbDep,
) -> ConversionOut:
    """Convert the code's partner units for the resident; the reserve and its deadline return.

    The code is checked before the ledger is needed, so a typo is answered even when it is down.
    """
    conversion = redeem_coupon(
        db=db,
        chain=getattr(request.app.state, "chain", None),
        hash_key=services.lookup_hash_key,
        policy=services.lockout,
        account=resident.account,
        actor=resident_actor(resident.account),
        code_text=body.code,
        now=services.clock.now(),
    )
    return ConversionOut(
        reserve_id=conversion.reserve_id,
        amount=conversion.amount,
        deadline=conversion.deadline,
        home_municipality=format_code(conversion.home_municipality),
        transaction_hash=conversion.transaction_hash,
    )
