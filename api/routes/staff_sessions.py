"""Staff sessions: log in with login name + password, log out."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import DbDep, ServicesDep, StaffToken
from api.schemas.problems import Problem
from api.schemas.staff import StaffLoginRequest, StaffSessionResponse
from api.services import staff

router = APIRouter(prefix="/staff/sessions", tags=["staff"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Staff login",
    responses={401: {"model": Problem}, 422: {"model": Problem}, 423: {"model": Problem}},
)
def log_in(body: StaffLoginRequest, services: ServicesDep, db: DbDep) -> StaffSessionResponse:
    """Open a staff session; repeated wrong passwords lock the account for a while."""
    issued = staff.login_staff(
        db=db,
        passwords=services.passwords,
        lockout=services.lockout,
        session_ttl_seconds=services.settings.session_ttl_seconds,
        login_name=body.login_name,
        password=body.password,
        now=services.clock.now(),
    )
    return StaffSessionResponse(token=issued.token, expires_at=issued.expires_at, role=issued.role)


@router.delete(
    "/current",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Staff logout",
    responses={401: {"model": Problem}},
)
def log_out(token: StaffToken, db: DbDep) -> Response:
    """End this staff session."""
    staff.logout_staff(db=db, token=token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
