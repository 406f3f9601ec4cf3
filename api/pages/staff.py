"""The staff console: log in, grant points to one resident or a CSV batch, see what was granted.

Grants go through `api.services.grants` exactly as the HTTP API's do: one idempotency key per
form shown (a double click grants once), a batch keyed by its content (uploading a file twice
grants once; the second report says `already granted`). Each CSV line gets its own row in the
result table, and a chart counts the points granted per day from those grant records.

Municipal staff and treasurers of a municipality also see its last 14 or 30 days (their choice,
`?days=`): points granted and redeemed per day, and outstanding at the end of each day, drawn as
inline SVG with the numbers in a table under each. They are the explorer's figures for the same
municipality (`staff_reports.municipality_figures`), and only ever the staff member's own
municipality: the code comes from the staff account, never from the request.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.deps import DbDep, ServicesDep
from api.errors import ApiError, AuthenticationFailed, FieldError, InvalidFields
from api.messages import Message
from api.municipalities import MUNICIPALITIES
from api.pages.charts import Bar, bar_chart
from api.pages.cookies import STAFF_SESSION, clear_cookie, set_token_cookie
from api.pages.rendering import FormErrors, page_language, redirect
from api.pages.runtime import PagesRuntime
from api.pages.staff_reports import (
    CHART_PERIODS,
    StaffFigures,
    chosen_period,
    municipality_figures,
    points_granted_per_day,
    recent_grants,
)
from api.services import grants
from api.services import staff as staff_service
from api.services.container import Services
from api.services.grants import ACTIVITIES, GrantingContext, GrantLine, GrantOutcome, GrantResult
from api.services.staff import StaffRole
from api.store.models import StaffAccount
from api.tokens import new_token

MAX_CSV_BYTES = 1024 * 1024
"""A day's CSV of 5,000 lines is about 100 KB; anything near a megabyte is a wrong file."""

FIGURE_ROLES = frozenset({StaffRole.MUNICIPAL_STAFF, StaffRole.TREASURER})
"""The roles that belong to one municipality and see its day-by-day figures on the console."""

OUTCOME_TEXT: dict[str, Message] = {
    GrantOutcome.GRANTED: Message("付与しました", "Granted"),
    GrantOutcome.ALREADY_GRANTED: Message(
        "付与済み（二重付与なし）", "Already granted (not twice)"
    ),
    GrantOutcome.REFUSED: Message("付与できません", "Refused"),
    GrantOutcome.IN_DOUBT: Message("結果確認中", "Outcome not known yet"),
}


def current_staff(request: Request, services: Services, db: Session) -> StaffAccount | None:
    """Return the staff member of the session cookie, or None."""
    token = request.cookies.get(STAFF_SESSION)
    if not token:
        return None
    try:
        return staff_service.authenticate_staff(db=db, token=token, now=services.clock.now())
    except AuthenticationFailed:
        return None


def _decode_csv(raw: bytes) -> str:
    """Return CSV text from UTF-8 (with or without BOM) or Shift_JIS, as the API accepts."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidFields([FieldError.of("csv_file", "csv-encoding")])


def build_router(runtime: PagesRuntime) -> APIRouter:  # noqa: PLR0915 - one small handler per page
    """Return the staff console under /staff."""
    router = APIRouter(prefix="/staff", include_in_schema=False)
    renderer = runtime.renderer
    secure = runtime.settings.secure_cookies

    def console(
        request: Request,
        services: Services,
        db: Session,
        staff: StaffAccount,
        *,
        errors: FormErrors | None = None,
        batch: list[GrantResult] | None = None,
        single: GrantResult | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        municipality = next(
            (item for item in MUNICIPALITIES if item.code == staff.organisation), None
        )
        language = page_language(request)
        figures: StaffFigures | None = None
        grants_list = []
        if municipality is not None and staff.role in FIGURE_ROLES:
            figures = municipality_figures(
                db=db,
                municipality=municipality,
                now=services.clock.now(),
                period_days=chosen_period(request.query_params.get("days")),
                language=language,
            )
        chart = None
        daily: list[Bar] = []
        if staff.role == StaffRole.MUNICIPAL_STAFF and municipality is not None:
            totals = points_granted_per_day(
                db=db, municipality=municipality.code, now=services.clock.now()
            )
            daily = [Bar(total.day[5:], total.points) for total in totals]
            if any(bar.value for bar in daily):
                chart = bar_chart(
                    daily,
                    title=Message(
                        "この画面からの日別の付与ポイント（直近14日）",
                        "Points granted from this console per day (last 14 days)",
                    ).in_language(language),
                    unit=Message("ポイント", " points").in_language(language),
                    chart_id="granted-per-day",
                )
            grants_list = recent_grants(db=db, municipality=municipality.code)
        return renderer.render(
            request,
            "staff/console.html",
            {
                "section": "staff",
                "staff": staff,
                "municipality": municipality,
                "is_granting_staff": staff.role == StaffRole.MUNICIPAL_STAFF,
                "activities": ACTIVITIES,
                "outcome_text": OUTCOME_TEXT,
                "idempotency_key": new_token(),
                "errors": errors or FormErrors(language),
                "batch": batch,
                "single": single,
                "values": values or {},
                "chart": chart,
                "daily": daily,
                "figures": figures,
                "chart_periods": CHART_PERIODS,
                "recent": grants_list,
            },
            status_code=status_code,
        )

    def granting_context(services: Services, db: Session, staff: StaffAccount) -> GrantingContext:
        return GrantingContext.for_staff(
            db=db,
            ledger=services.points,
            staff=staff,
            now=services.clock.now(),
            mail_domain=services.mail_domain,
        )

    @router.get("/login")
    def show_login(request: Request) -> Response:
        """The staff login form."""
        return renderer.render(
            request,
            "staff/login.html",
            {
                "section": "staff",
                "login_name": "",
                "logged_out": request.query_params.get("done") == "logout",
            },
        )

    @router.post("/login")
    def log_in(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        login_name: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=256)] = "",
    ) -> Response:
        """Check the staff password and open a session."""
        errors = FormErrors(page_language(request))
        if not login_name.strip():
            errors.add_field(
                "login_name", Message("ログイン名を入力してください。", "Enter your login name.")
            )
        if not password:
            errors.add_field(
                "password", Message("パスワードを入力してください。", "Enter your password.")
            )
        status_code = 422
        if not errors:
            try:
                issued = staff_service.login_staff(
                    db=db,
                    passwords=services.passwords,
                    lockout=services.lockout,
                    session_ttl_seconds=services.settings.session_ttl_seconds,
                    login_name=login_name.strip(),
                    password=password,
                    now=services.clock.now(),
                )
            except ApiError as error:
                errors.add_general(error.message)
                status_code = error.status
            else:
                response = redirect("/staff")
                set_token_cookie(
                    response,
                    STAFF_SESSION,
                    issued.token,
                    max_age=services.settings.session_ttl_seconds,
                    secure=secure,
                )
                return response
        return renderer.render(
            request,
            "staff/login.html",
            {
                "section": "staff",
                "errors": errors,
                "login_name": login_name.strip(),
                "logged_out": False,
            },
            status_code=status_code,
        )

    @router.post("/logout")
    def log_out(request: Request, db: DbDep) -> Response:
        """End the staff session."""
        token = request.cookies.get(STAFF_SESSION)
        if token:
            staff_service.logout_staff(db=db, token=token)
        response = redirect("/staff/login?done=logout")
        clear_cookie(response, STAFF_SESSION, secure=secure)
        return response

    @router.get("")
    def home(request: Request, services: ServicesDep, db: DbDep) -> Response:
        """The console: grant forms, the municipality's figures and the latest grants."""
        staff = current_staff(request, services, db)
        if staff is None:
            return redirect("/staff/login")
        return console(request, services, db, staff)

    @router.post("/grants")
    def grant_one(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        mykey_id: Annotated[str, Form(max_length=64)] = "",
        points: Annotated[str, Form(max_length=16)] = "",
        activity: Annotated[str, Form(max_length=64)] = "",
        idempotency_key: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        """Grant points to one resident."""
        staff = current_staff(request, services, db)
        if staff is None:
            return redirect("/staff/login")
        errors = FormErrors(page_language(request))
        values = {
            "mykey_id": mykey_id.strip().upper(),
            "points": points.strip(),
            "activity": activity,
        }
        try:
            result = grants.grant_single(
                context=granting_context(services, db, staff),
                line=GrantLine(values["mykey_id"], values["points"], activity),
                idempotency_key=f"{staff.organisation}:page:{idempotency_key or new_token()}",
            )
        except InvalidFields as error:
            errors.add_field_errors(error.errors, rename={})
            return console(
                request, services, db, staff, errors=errors, values=values, status_code=422
            )
        except ApiError as error:
            errors.add_general(error.message)
            return console(
                request, services, db, staff, errors=errors, values=values, status_code=error.status
            )
        return console(request, services, db, staff, single=result)

    @router.post("/grants/batch")
    async def grant_batch(
        request: Request,
        services: ServicesDep,
        db: DbDep,
        csv_file: Annotated[UploadFile | None, File()] = None,
        csv_text: Annotated[str, Form(max_length=MAX_CSV_BYTES)] = "",
    ) -> Response:
        """Grant every line of an uploaded (or pasted) CSV; show one result row per line."""
        staff = current_staff(request, services, db)
        if staff is None:
            return redirect("/staff/login")
        errors = FormErrors(page_language(request))
        try:
            raw = await csv_file.read(MAX_CSV_BYTES + 1) if csv_file is not None else b""
            if len(raw) > MAX_CSV_BYTES:
                raise InvalidFields([FieldError.of("csv_file", "csv-too-long")])
            text = _decode_csv(raw) if raw else csv_text
            if not text.strip():
                raise InvalidFields([FieldError.of("csv_file", "required")])
            batch_key = hashlib.sha256(text.encode("utf-8")).hexdigest()
            results = grants.grant_batch(
                context=granting_context(services, db, staff),
                csv_text=text,
                batch_key=f"{staff.organisation}:batch:{batch_key}",
            )
        except InvalidFields as error:
            errors.add_field_errors(error.errors, rename={"body": "csv_file"})
            return console(request, services, db, staff, errors=errors, status_code=422)
        except ApiError as error:
            errors.add_general(error.message)
            return console(request, services, db, staff, errors=errors, status_code=error.status)
        return console(request, services, db, staff, batch=results)

    return router
