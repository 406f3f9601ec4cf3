"""Staff accounts, managed by platform administrators; every change is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from api.deps import DbDep, PlatformAdmin, ServicesDep
from api.schemas.problems import Problem
from api.schemas.staff import StaffAccountCreateRequest, StaffAccountResponse
from api.services import staff
from api.store.models import StaffAccount

router = APIRouter(
    prefix="/staff/accounts",
    tags=["staff"],
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)


def _response(account: StaffAccount) -> StaffAccountResponse:
    return StaffAccountResponse(
        id=account.id,
        login_name=account.login_name,
        role=account.role,
        organisation=account.organisation,
        active=account.active,
        created_at=account.created_at,
    )


@router.get("", summary="List staff accounts")
def list_accounts(admin: PlatformAdmin, db: DbDep) -> list[StaffAccountResponse]:
    """Return every staff account."""
    return [_response(account) for account in staff.list_staff_accounts(db=db)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a staff account",
    responses={409: {"model": Problem}, 422: {"model": Problem}},
)
def create_account(
    body: StaffAccountCreateRequest, admin: PlatformAdmin, services: ServicesDep, db: DbDep
) -> StaffAccountResponse:
    """Create an account with one role."""
    account = staff.create_staff_account(
        db=db,
        passwords=services.passwords,
        actor=staff.staff_actor(admin),
        login_name=body.login_name,
        password=body.password,
        role=body.role,
        organisation=body.organisation,
        now=services.clock.now(),
    )
    return _response(account)


@router.post(
    "/{staff_id}/deactivation",
    summary="Deactivate a staff account",
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
def deactivate_account(
    staff_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    admin: PlatformAdmin,
    services: ServicesDep,
    db: DbDep,
) -> StaffAccountResponse:
    """Deactivate an account and end its sessions."""
    account = staff.deactivate_staff_account(
        db=db, actor=admin, staff_id=staff_id, now=services.clock.now()
    )
    return _response(account)
