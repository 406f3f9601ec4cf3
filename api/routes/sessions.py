"""Residents' My Page sessions: log in with MyKey ID + password, log out."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import CurrentResident, DbDep, ServicesDep
from api.schemas.problems import Problem
from api.schemas.residents import LoginRequest, SessionResponse
from api.services import accounts

router = APIRouter(prefix="/sessions", tags=["my page"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Log in to My Page",
    responses={
        401: {"model": Problem, "description": "Unknown MyKey ID or wrong password."},
        422: {"model": Problem},
        423: {"model": Problem, "description": "Locked after 5 wrong passwords; see Retry-After."},
    },
)
def log_in(body: LoginRequest, services: ServicesDep, db: DbDep) -> SessionResponse:
    """Open a session; five wrong passwords in a row lock the account for a while."""
    settings = services.settings
    issued = accounts.login_resident(
        db=db,
        passwords=services.passwords,
        lockout=services.lockout,
        session_ttl_seconds=settings.session_ttl_seconds,
        mykey_id=body.mykey_id,
        password=body.password,
        now=services.clock.now(),
    )
    return SessionResponse(token=issued.token, expires_at=issued.expires_at)


@router.delete(
    "/current",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out",
    responses={401: {"model": Problem}},
)
def log_out(resident: CurrentResident, db: DbDep) -> Response:
    """End this session."""
    accounts.logout_resident(db=db, session_token_hash=resident.session_token_hash)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
