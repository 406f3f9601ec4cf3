"""Service IDs: register a service, link a number with consent, report an address change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.chain.lookups import link_with_consent, register_service, report_address_change
from api.deps import CurrentResident, DbDep, PlatformAdmin, ServicesDep, staff_with_roles
from api.errors import FieldError, InvalidFields
from api.services.accounts import resident_actor
from api.services.staff import StaffRole, staff_actor
from api.store.models import StaffAccount

router = APIRouter(tags=["service IDs"])
MunicipalStaff = Annotated[StaffAccount, Depends(staff_with_roles(StaffRole.MUNICIPAL_STAFF))]


class ServiceIn(BaseModel):
    """A service whose customer numbers residents may link, and the business that runs it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"service_code": "kawasaki-library", "business": 1, "name": "川崎市立図書館"}
            ]
        }
    )
    service_code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    business: int = Field(ge=1, description="The business id on the ledger.")
    name: str = Field(min_length=1, max_length=128)


class ServiceLinkIn(BaseModel):
    """The resident links a customer number, consenting to its lookup at that service."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service_code": "kawasaki-library",
                    "service_id": "LIB-00012345",
                    "valid_until": 1830000000,
                    "consent": True,
                }
            ]
        }
    )
    service_code: str = Field(max_length=64)
    service_id: str = Field(max_length=64)
    valid_until: int | None = Field(default=None, description="End of the card (Unix seconds).")
    consent: bool = Field(description="Must be true: the resident agrees to lookups.")


class AddressChangeIn(BaseModel):
    """A resident's address changed (the date only; the address never reaches this API)."""

    mykey_id: str = Field(pattern=r"^[A-Z0-9]{8}$")
    changed_at: int = Field(ge=0, description="Unix seconds of the change.")


class Done(BaseModel):
    """An accepted write."""

    ok: bool = True


@router.post("/services", status_code=201, summary="Register a service", response_model=Done)
def add_service(body: ServiceIn, staff: PlatformAdmin, services: ServicesDep, db: DbDep) -> Done:
    """Register a service and the business whose lookup terminals may see its numbers."""
    register_service(
        db=db,
        service_code=body.service_code,
        business=body.business,
        name=body.name,
        actor=staff_actor(staff),
        now=services.clock.now(),
    )
    return Done()


@router.post("/me/service-links", status_code=201, summary="Link a service ID", response_model=Done)
def link(body: ServiceLinkIn, resident: CurrentResident, services: ServicesDep, db: DbDep) -> Done:
    """Link (or replace) the resident's number at a service, with consent; kept encrypted."""
    if not body.consent:
        raise InvalidFields([FieldError.of("consent", "required")])
    link_with_consent(
        db=db,
        cipher=services.cipher,
        actor=resident_actor(resident.account),
        account=resident.account,
        service_code=body.service_code,
        service_id=body.service_id,
        valid_until=body.valid_until,
        now=services.clock.now(),
    )
    return Done()


@router.post(
    "/address-changes", status_code=201, summary="Report an address change", response_model=Done
)
def address_change(
    body: AddressChangeIn, staff: MunicipalStaff, services: ServicesDep, db: DbDep
) -> Done:
    """Record that a resident's address changed; lookups flag it until the service confirms."""
    report_address_change(
        db=db,
        mykey_id=body.mykey_id,
        changed_at=body.changed_at,
        reported_by=staff.login_name,
        now=services.clock.now(),
    )
    return Done()
