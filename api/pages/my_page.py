"""My Page for residents: log in, log out, the account, notice settings, password change.

The session token from `api.services.accounts.login_resident` lives in an HttpOnly cookie; every
page behind login checks it with `authenticate_resident` and sends the resident to the login page
otherwise. Balances, reserves and history come from the ledger: until the chain side is
connected they are shown as "not yet connected", never as made-up numbers. Vouchers are read
from the indexer's events (`api.pages.resident_vouchers`), the resident's own only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from api.chain import reserves
from api.deps import DbDep, ServicesDep, get_services
from api.errors import ApiError, AuthenticationFailed, InvalidFields
from api.messages import FIELD_MESSAGES, Message
from api.municipalities import MUNICIPALITIES, find_prefecture
from api.pages.cookies import RESIDENT_SESSION, clear_cookie, set_token_cookie
from api.pages.explorer import jst_time
from api.pages.outstanding import indexed_through
from api.pages.rendering import FormErrors, page_language, redirect
from api.pages.resident_points import PointsReader, ResidentPoints, read_resident_points
from api.pages.resident_vouchers import STATUS_WORDS, read_resident_vouchers
from api.pages.runtime import PagesRuntime
from api.pages.settings import VirtualCardRefused
from api.services import accounts
from api.services.accounts import AuthenticatedResident

NOTICES_SAVED = Message("お知らせの設定を保存しました。", "Your notice settings are saved.")
PASSWORD_CHANGED = Message("パスワードを変更しました。", "Your password is changed.")
PLACED = Message(
    "予約ポイントを選んだ自治体の口座で受け取りました。",
    "The reserved points are placed in the municipality you chose.",
)
PLACING_NEEDS_CARD = Message(
    "予約ポイントの受け取りにはマイナンバーカードでの確認が必要です。この画面からの手続きは準備中です。",
    "Placing reserved points needs your My Number Card; doing it from this page is not ready yet.",
)
LOGGED_OUT = Message("ログアウトしました。", "You are logged out.")


def _chain_reader(request: Request) -> PointsReader | None:
    """The chain side's ledger reader when the app was built with one (`create_app(chain=)`)."""
    chain = getattr(request.app.state, "chain", None)
    reader: PointsReader | None = getattr(chain, "ledger", None)
    return reader


def jst_day(timestamp: int) -> str:
    """Return a date in Japan time, e.g. 2027-03-31."""
    return jst_time(timestamp)[:10]


def current_resident(
    request: Request, services: ServicesDep, db: DbDep
) -> AuthenticatedResident | None:
    """Return the resident of the session cookie, or None when absent or expired."""
    token = request.cookies.get(RESIDENT_SESSION)
    if not token:
        return None
    try:
        return accounts.authenticate_resident(db=db, token=token, now=services.clock.now())
    except AuthenticationFailed:
        return None


def build_router(runtime: PagesRuntime) -> APIRouter:  # noqa: PLR0915 - one small handler per page
    """Return the My Page pages under /my."""
    router = APIRouter(prefix="/my", include_in_schema=False)
    renderer = runtime.renderer
    secure = runtime.settings.secure_cookies

    def login_page(
        request: Request,
        errors: FormErrors | None = None,
        mykey_id: str = "",
        notice: Message | None = None,
        status_code: int = 200,
    ) -> Response:
        return renderer.render(
            request,
            "my/login.html",
            {
                "section": "my",
                "errors": errors or FormErrors(page_language(request)),
                "mykey_id": mykey_id,
                "notice": notice,
            },
            status_code=status_code,
        )

    def home_page(  # noqa: PLR0917 - a page helper called positionally
        request: Request,
        db: DbDep,
        resident: AuthenticatedResident,
        errors: FormErrors | None = None,
        notice: Message | None = None,
        status_code: int = 200,
    ) -> Response:
        account = resident.account
        language = page_language(request)
        reader = runtime.settings.points_reader or _chain_reader(request)
        points: ResidentPoints | None = None
        points_error: Message | None = None
        if reader is not None:
            try:
                points = read_resident_points(
                    reader=reader, db=db, mykey_id=account.mykey_id, language=language
                )
            except ApiError as error:
                points_error = error.message
        vouchers = read_resident_vouchers(
            db=db,
            mykey_id=account.mykey_id,
            now=get_services(request).clock.now(),
            language=language,
        )
        prefecture = find_prefecture(account.home_prefecture)
        municipality = next(
            (item for item in MUNICIPALITIES if item.code == account.home_municipality), None
        )
        return renderer.render(
            request,
            "my/home.html",
            {
                "section": "my",
                "account": account,
                "prefecture": prefecture,
                "municipality": municipality,
                "errors": errors or FormErrors(page_language(request)),
                "notice": notice,
                "connected": reader is not None,
                "can_place": runtime.settings.virtual_card is not None
                and getattr(request.app.state, "chain", None) is not None,
                "municipalities": MUNICIPALITIES,
                "points": points,
                "points_error": points_error,
                "vouchers": vouchers,
                "voucher_status": STATUS_WORDS,
                "indexed_through": indexed_through(db),
                "when": jst_time,
                "day": jst_day,
            },
            status_code=status_code,
        )

    @router.get("/login")
    def show_login(request: Request) -> Response:
        """The login form."""
        notice = LOGGED_OUT if request.query_params.get("done") == "logout" else None
        return login_page(request, notice=notice)

    @router.post("/login")
    def log_in(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        mykey_id: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=256)] = "",
    ) -> Response:
        """Check MyKey ID + password; five wrong passwords in a row lock the account a while."""
        errors = FormErrors(page_language(request))
        entered = mykey_id.strip().upper()
        if not entered:
            errors.add_field(
                "mykey_id", Message("マイキーIDを入力してください。", "Enter your MyKey ID.")
            )
        if not password:
            errors.add_field(
                "password", Message("パスワードを入力してください。", "Enter your password.")
            )
        if errors:
            return login_page(request, errors, entered, status_code=422)
        try:
            issued = accounts.login_resident(
                db=db,
                passwords=services.passwords,
                lockout=services.lockout,
                session_ttl_seconds=services.settings.session_ttl_seconds,
                mykey_id=entered,
                password=password,
                now=services.clock.now(),
            )
        except ApiError as error:
            errors.add_general(error.message)
            return login_page(request, errors, entered, status_code=error.status)
        response = redirect("/my")
        set_token_cookie(
            response,
            RESIDENT_SESSION,
            issued.token,
            max_age=services.settings.session_ttl_seconds,
            secure=secure,
        )
        return response

    @router.post("/logout")
    def log_out(request: Request, services: ServicesDep, db: DbDep) -> Response:
        """End the session and forget the cookie."""
        resident = current_resident(request, services, db)
        if resident is not None:
            accounts.logout_resident(db=db, session_token_hash=resident.session_token_hash)
        response = redirect("/my/login?done=logout")
        clear_cookie(response, RESIDENT_SESSION, secure=secure)
        return response

    @router.get("")
    def home(request: Request, services: ServicesDep, db: DbDep) -> Response:
        """My Page: the account, points (when connected), notices and password forms."""
        resident = current_resident(request, services, db)
        if resident is None:
            return redirect("/my/login")
        saved = {"notices": NOTICES_SAVED, "password": PASSWORD_CHANGED, "placed": PLACED}.get(
            request.query_params.get("saved", "")
        )
        return home_page(request, db, resident, notice=saved)

    @router.post("/notices")
    def save_notices(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        notify_points_granted: Annotated[bool, Form()] = False,
        notify_points_expired: Annotated[bool, Form()] = False,
        notify_password_changed: Annotated[bool, Form()] = False,
        notify_mykey_id_changes: Annotated[bool, Form()] = False,
    ) -> Response:
        """Replace the notice choices."""
        resident = current_resident(request, services, db)
        if resident is None:
            return redirect("/my/login")
        try:
            accounts.update_notice_choices(
                db=db,
                resident=resident,
                points_granted=notify_points_granted,
                points_expired=notify_points_expired,
                password_changed=notify_password_changed,
                mykey_id_changes=notify_mykey_id_changes,
                now=services.clock.now(),
            )
        except ApiError as error:
            errors = FormErrors(page_language(request))
            errors.add_api_error(error)
            return home_page(request, db, resident, errors, status_code=error.status)
        return redirect("/my?saved=notices#notices")

    @router.post("/password")
    def change_password(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        current_password: Annotated[str, Form(max_length=256)] = "",
        new_password: Annotated[str, Form(max_length=256)] = "",
        new_password_confirmation: Annotated[str, Form(max_length=256)] = "",
    ) -> Response:
        """Change the password; other sessions end, this one stays."""
        resident = current_resident(request, services, db)
        if resident is None:
            return redirect("/my/login")
        errors = FormErrors(page_language(request))
        try:
            accounts.change_password(
                db=db,
                passwords=services.passwords,
                lockout=services.lockout,
                resident=resident,
                current_password=current_password,
                new_password=new_password,
                new_password_confirmation=new_password_confirmation,
                now=services.clock.now(),
                mail_domain=services.mail_domain,
            )
        except InvalidFields as error:
            errors.add_field_errors(error.errors, rename={})
            return home_page(request, db, resident, errors, status_code=422)
        except ApiError as error:
            errors.add_general(error.message)
            return home_page(request, db, resident, errors, status_code=error.status)
        return redirect("/my?saved=password#password")

    @router.post("/reserves/{reserve_id}/place")
    def place_reserve(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        reserve_id: int,
        municipality_code: Annotated[str, Form(max_length=8)] = "",
        pin: Annotated[str, Form(max_length=16)] = "",
    ) -> Response:
        """Place reserved points in a chosen municipality; the resident's card signs it."""
        resident = current_resident(request, services, db)
        if resident is None:
            return redirect("/my/login")
        errors = FormErrors(page_language(request))
        chain = getattr(request.app.state, "chain", None)
        desk = runtime.settings.virtual_card
        code = next((m.code for m in MUNICIPALITIES if m.code == municipality_code), None)
        if code is None:
            errors.add_field(
                f"place-{reserve_id}-municipality", FIELD_MESSAGES["municipality-unknown"]
            )
        if chain is None or desk is None:
            errors.add_general(PLACING_NEEDS_CARD)
        if errors or chain is None or desk is None or code is None:
            return home_page(request, db, resident, errors, status_code=422)
        account = resident.account
        try:
            statement = reserves.open_placement(
                db=db,
                chain=chain,
                account=account,
                reserve_id=reserve_id,
                municipality=int(code),
                now=services.clock.now(),
                ttl=services.settings.challenge_ttl_seconds,
            )
            answer = desk.sign_with_card(
                certificate_fingerprint=account.certificate_fingerprint,
                data=statement.statement,
                pin=pin,
            )
            reserves.place_reserve(
                db=db,
                chain=chain,
                cards=services.cards,
                account=account,
                challenge_id=statement.challenge_id,
                certificate_der=answer.certificate_der,
                signature=answer.signature,
                now=services.clock.now(),
            )
        except VirtualCardRefused as refusal:
            errors.add_field(
                f"place-{reserve_id}-pin", Message(refusal.message_ja, refusal.message_en)
            )
            return home_page(request, db, resident, errors, status_code=422)
        except ApiError as error:
            errors.add_general(error.message)
            return home_page(request, db, resident, errors, status_code=error.status)
        return redirect("/my?saved=placed#points-title")

    return router
