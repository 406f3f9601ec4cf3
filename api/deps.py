"""FastAPI dependencies as `Annotated` aliases: the services, a store session, who is calling.

`ServicesDep` is the app's `Services`; `DbDep` a store session closed after the request;
`CurrentResident` / `CurrentStaff` the caller behind a bearer token (401 problem otherwise).
`staff_with_roles(...)` makes a dependency that also checks the role (403 problem otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import AuthenticationFailed
from api.messages import Message
from api.services.accounts import AuthenticatedResident, authenticate_resident
from api.services.container import Services
from api.services.staff import StaffRole, authenticate_staff, require_role
from api.store.models import StaffAccount

_resident_bearer = HTTPBearer(
    scheme_name="residentSession",
    description="My Page session token from `POST /sessions`.",
    auto_error=False,
)
_staff_bearer = HTTPBearer(
    scheme_name="staffSession",
    description="Staff session token from `POST /staff/sessions`.",
    auto_error=False,
)
_LOGIN_REQUIRED = Message("ログインしてください。", "Please log in.")


def get_services(request: Request) -> Services:
    """Return the app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_db(services: ServicesDep) -> Iterator[Session]:
    """Yield a store session for one request; roll back whatever it left uncommitted."""
    with services.store.sessions() as session:
        yield session


DbDep = Annotated[Session, Depends(get_db)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise AuthenticationFailed(_LOGIN_REQUIRED, headers={"WWW-Authenticate": "Bearer"})
    return credentials.credentials


def get_current_resident(
    services: ServicesDep,
    db: DbDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_resident_bearer)],
) -> AuthenticatedResident:
    """Return the logged-in resident; 401 problem without a valid session."""
    return authenticate_resident(db=db, token=_token(credentials), now=services.clock.now())


CurrentResident = Annotated[AuthenticatedResident, Depends(get_current_resident)]


def get_current_staff(
    services: ServicesDep,
    db: DbDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_staff_bearer)],
) -> StaffAccount:
    """Return the logged-in staff member; 401 problem without a valid session."""
    return authenticate_staff(db=db, token=_token(credentials), now=services.clock.now())


CurrentStaff = Annotated[StaffAccount, Depends(get_current_staff)]


def get_staff_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_staff_bearer)],
) -> str:
    """Return the staff bearer token as sent (for logout)."""
    return _token(credentials)


StaffToken = Annotated[str, Depends(get_staff_token)]


def staff_with_roles(*roles: StaffRole) -> Callable[[StaffAccount], StaffAccount]:
    """Return a dependency giving the current staff member if they hold one of `roles`."""

    def dependency(staff: CurrentStaff) -> StaffAccount:
        require_role(staff, roles)
        return staff

    return dependency


PlatformAdmin = Annotated[StaffAccount, Depends(staff_with_roles(StaffRole.PLATFORM_ADMIN))]
Operator = Annotated[
    StaffAccount,
    Depends(staff_with_roles(StaffRole.NODE_OPERATOR, StaffRole.PLATFORM_ADMIN)),
]
