"""The logged-in resident's own account: view it, change the password."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import CurrentResident, DbDep, ServicesDep
from api.schemas.problems import Problem
from api.schemas.residents import AccountResponse, NoticeChoicesView, PasswordChangeRequest
from api.services import accounts
from api.store.models import Account

router = APIRouter(prefix="/me", tags=["my page"])


def _account_response(account: Account) -> AccountResponse:
    return AccountResponse(
        mykey_id=account.mykey_id,
        email=account.email,
        notices=NoticeChoicesView(
            points_granted=account.notify_points_granted,
            points_expired=account.notify_points_expired,
            password_changed=account.notify_password_changed,
            mykey_id_changes=account.notify_mykey_id_changes,
        ),
        home_prefecture=account.home_prefecture,
        home_municipality=account.home_municipality,
        registered_at=account.created_at,
    )


@router.get("", summary="My account", responses={401: {"model": Problem}})
def read_account(resident: CurrentResident) -> AccountResponse:
    """Return the resident's MyKey ID and settings."""
    return _account_response(resident.account)


@router.put(
    "/notices",
    summary="Choose which notices to receive",
    responses={401: {"model": Problem}, 422: {"model": Problem}},
)
def update_notices(
    body: NoticeChoicesView, resident: CurrentResident, services: ServicesDep, db: DbDep
) -> AccountResponse:
    """Replace the notice choices (points granted / expired, password, MyKey ID changes)."""
    account = accounts.update_notice_choices(
        db=db,
        resident=resident,
        points_granted=body.points_granted,
        points_expired=body.points_expired,
        password_changed=body.password_changed,
        mykey_id_changes=body.mykey_id_changes,
        now=services.clock.now(),
    )
    return _account_response(account)


@router.put(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change my password",
    responses={
        401: {"model": Problem},
        422: {"model": Problem, "description": "Wrong current password or new password rules."},
        423: {"model": Problem},
    },
)
def change_password(
    body: PasswordChangeRequest, resident: CurrentResident, services: ServicesDep, db: DbDep
) -> Response:
    """Replace the password; other sessions end; a notice goes out if chosen."""
    accounts.change_password(
        db=db,
        passwords=services.passwords,
        lockout=services.lockout,
        resident=resident,
        current_password=body.current_password,
        new_password=body.new_password,
        new_password_confirmation=body.new_password_confirmation,
        now=services.clock.now(),
        mail_domain=services.mail_domain,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
