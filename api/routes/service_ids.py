"""Service IDs: register a service, link a number with consent, report an address change;
the service's lookup terminals read the address changes and confirm them (signed requests)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.chain.lookups import (
    address_changes_for,
    confirm_address_change,
    link_with_consent,
    register_service,
    report_address_change,
)
from api.deps import CurrentResident, DbDep, PlatformAdmin, ServicesDep, staff_with_roles
from api.errors import FieldError, InvalidFields
from api.routes.terminals import LookupTerminal
from api.schemas.problems import Problem
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

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mykey_id": "A01B2C3D", "changed_at": 1800000000}]}
    )
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


class AddressChangeNoticeOut(BaseModel):
    """An address change the service has not confirmed yet, named by its customer number."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "change_id": 12,
                    "service_code": "kawasaki-library",
                    "service_id": "LIB-00012345",
                    "changed_on": "2026-11-27",
                    "reported_at": 1800000000,
                }
            ]
        }
    )
    change_id: int
    service_code: str
    service_id: str = Field(description="The service's own customer number for this resident.")
    changed_on: str = Field(description="Japan-time day of the change (YYYY-MM-DD).")
    reported_at: int = Field(description="Unix seconds the municipality reported it.")


class AddressChangeConfirmationIn(BaseModel):
    """Which of the business's services has updated its records."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"service_code": "kawasaki-library"}]}
    )
    service_code: str = Field(max_length=64)


_TERMINAL_PROBLEMS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "Unsigned, stale, replayed or unregistered."},
    403: {"model": Problem, "description": "Not a service-ID lookup terminal."},
    422: {"model": Problem},
    503: {"model": Problem},
}


@router.get(
    "/terminal/v1/address-changes",
    summary="Address changes of residents linked at this business's services",
    response_model=list[AddressChangeNoticeOut],
    responses=_TERMINAL_PROBLEMS,
)
def address_change_feed(
    terminal: LookupTerminal,
    services: ServicesDep,
    db: DbDep,
    since: Annotated[int, Query(ge=0, le=2**62, description="Unix seconds; reported at or after.")],
) -> list[AddressChangeNoticeOut]:
    """Unconfirmed changes reported since `since`, oldest first (poll at least daily)."""
    return [
        AddressChangeNoticeOut(**vars(notice))
        for notice in address_changes_for(
            db=db, cipher=services.cipher, terminal=terminal, since=since
        )
    ]


@router.post(
    "/terminal/v1/address-changes/{change_id}/confirmation",
    summary="The service has updated its records after an address change",
    response_model=Done,
    responses={**_TERMINAL_PROBLEMS, 404: {"model": Problem}},
)
def confirm_change(
    change_id: Annotated[int, Path(ge=1, le=2**62)],
    body: AddressChangeConfirmationIn,
    terminal: LookupTerminal,
    services: ServicesDep,
    db: DbDep,
) -> Done:
    """From now on this service's lookups no longer flag the change (others still do)."""
    confirm_address_change(
        db=db,
        terminal=terminal,
        change_id=change_id,
        service_code=body.service_code,
        now=services.clock.now(),
    )
    return Done()
