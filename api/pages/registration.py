"""My Page registration pages: deck screen 16 in a browser, every rule and message.

Step 1, the card: a registration statement the card signs. In production the card helper on the
resident's PC (`mykey card helper`) does it: the page's script (static/card-helper.js) gets a
statement from `POST /registrations/card-challenges` (bound to this page's origin), sends it with
the PIN to the helper on 127.0.0.1 (never to this server), which signs it only for this origin,
and posts the helper's certificate + signature to `/my/register/card-answer`, which opens the
registration exactly as `POST /registrations` does and keeps it in the page's cookie. In tests and
dev the virtual card desk answers in-process (labelled as such, and only when configured), with a
statement bound to this page's own origin. Both answer routes refuse a post from another site,
so no site can plant a registration of its own card in the resident's browser.

Step 2, one form: the MyKey ID candidate (「自動生成」 at most 3 times, the 3rd
becomes the ID; or an own candidate with 「重複チェック」, the 3rd duplicate error shows a generated
one), password twice, e-mail twice, the notices, prefecture + municipality, then 「登録」.

The rules themselves live in `api.services.registration`; these pages only call it and show
its messages beside the fields they concern. Passwords are never sent back into the page.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import DbDep, ServicesDep
from api.errors import (
    ApiError,
    CandidateFixed,
    GenerationLimitReached,
    InvalidFields,
    MykeyIdTaken,
    RegistrationExpired,
)
from api.messages import FIELD_MESSAGES, Message
from api.municipalities import MUNICIPALITIES, PREFECTURES
from api.pages.cookies import REGISTRATION, clear_cookie, set_token_cookie
from api.pages.rendering import FormErrors, page_language, redirect
from api.pages.runtime import PagesRuntime
from api.pages.settings import VirtualCardRefused
from api.services import registration
from api.services.registration import (
    MAX_GENERATIONS,
    CandidateState,
    RegistrationContext,
    RegistrationForm,
)
from api.store.models import Registration
from card_bridge.browser_helper.config import HelperConfigError, normalise_origin

REGISTRATION_EXPIRED = Message(
    "登録の有効期限が切れました。カード認証からやり直してください。",
    "Your registration has expired. Please start again with the card.",
)
CARD_ANSWER_BROKEN = Message(
    "カードの応答を受け取れませんでした。もう一度カードリーダーで認証してください。",
    "The card's answer did not arrive complete. Please authenticate with the card reader again.",
)
CROSS_SITE_ANSWER = Message(
    "このページ以外から送られたカードの応答は受け付けられません。このページでもう一度認証してください。",
    "A card answer sent from another site is not accepted. Please authenticate on this page.",
)
GENERATED_AFTER_ERRORS = Message(
    "重複エラーが3回となったため、マイキーID候補を自動生成して表示しました。",
    "After 3 duplicate errors a MyKey ID candidate was generated and is shown.",
)


@dataclass(frozen=True)
class FormValues:
    """What the resident typed (passwords excepted), to show again after an error."""

    candidate: str = ""
    email: str = ""
    email_confirmation: str = ""
    notify_points_granted: bool = True
    notify_points_expired: bool = True
    notify_password_changed: bool = True
    notify_mykey_id_changes: bool = True
    prefecture_code: str = ""
    municipality_code: str = ""


def _context(services: ServicesDep, db: DbDep) -> RegistrationContext:
    return RegistrationContext(
        db=db,
        ledger=services.ledger,
        generate=services.generate_candidate,
        now=services.clock.now(),
    )


def _open_state(request: Request, services: ServicesDep, db: DbDep) -> CandidateState | None:
    """Return the registration in the cookie if it is still open, else None."""
    registration_id = request.cookies.get(REGISTRATION)
    if not registration_id:
        return None
    row = db.get(Registration, registration_id)
    if row is None or row.completed or row.expires_at <= services.clock.now():
        return None
    return CandidateState(
        registration_id=row.id,
        candidate=row.candidate,  # type: ignore[arg-type]
        generations_used=row.generations,
        duplicate_errors=row.duplicate_errors,
        candidate_fixed=row.candidate_fixed,
    )


def _posted_from_another_site(request: Request) -> bool:
    """Return True when the browser says the post came from a page of another site.

    `Sec-Fetch-Site` (sent by current browsers) is trusted first, since it does not depend on how
    a reverse proxy rewrote the scheme; without it, the Origin header's host must be the Host.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site != "same-origin"
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc != request.headers.get("host", "")


def _page_origin(request: Request) -> str | None:
    """Return this page's own origin as a browser would send it, None if the URL has none."""
    try:
        return normalise_origin(f"{request.url.scheme}://{request.url.netloc}")
    except HelperConfigError:
        return None


def build_router(runtime: PagesRuntime) -> APIRouter:  # noqa: PLR0915 - one small handler per page
    """Return the registration pages under /my/register."""
    router = APIRouter(prefix="/my/register", include_in_schema=False)
    renderer = runtime.renderer
    secure = runtime.settings.secure_cookies

    def card_page(
        request: Request, errors: FormErrors | None = None, status_code: int = 200
    ) -> HTMLResponse:
        return renderer.render(
            request,
            "my/register_card.html",
            {
                "section": "my",
                "virtual_card": runtime.settings.virtual_card is not None,
                "helper_url": runtime.settings.card_helper_url,
                "page_origin": str(request.base_url).rstrip("/"),
                "errors": errors or FormErrors(page_language(request)),
            },
            status_code=status_code,
        )

    def form_page(  # noqa: PLR0917 - a page helper called positionally
        request: Request,
        state: CandidateState,
        values: FormValues,
        errors: FormErrors | None = None,
        notes: list[Message] | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        return renderer.render(
            request,
            "my/register_form.html",
            {
                "section": "my",
                "state": state,
                "values": values,
                "max_generations": MAX_GENERATIONS,
                "prefectures": PREFECTURES,
                "municipalities": MUNICIPALITIES,
                "errors": errors or FormErrors(page_language(request)),
                "notes": notes or [],
            },
            status_code=status_code,
        )

    @router.get("")
    def start(request: Request, services: ServicesDep, db: DbDep) -> Response:
        """The card step, or the form when a registration is already open."""
        state = _open_state(request, services, db)
        if state is not None:
            return form_page(request, state, FormValues(candidate=state.candidate or ""))
        return card_page(request)

    @router.post("/virtual-card")
    def answer_with_virtual_card(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        pin: Annotated[str, Form(max_length=16)] = "",
    ) -> Response:
        """Tests and dev only: a virtual card answers the challenge, then the form opens."""
        desk = runtime.settings.virtual_card
        if desk is None:
            return renderer.render(request, "not_found.html", {"section": "my"}, status_code=404)
        errors = FormErrors(page_language(request))
        if _posted_from_another_site(request):
            # the same rule as the card helper's answer: no site plants a registration here
            errors.add_general(CROSS_SITE_ANSWER)
            return card_page(request, errors, status_code=403)
        issued = registration.issue_card_challenge(
            db=db,
            now=services.clock.now(),
            ttl_seconds=services.settings.challenge_ttl_seconds,
            origin=_page_origin(request),
        )
        try:
            answer = desk.answer_challenge(challenge=issued.statement, pin=pin)
        except VirtualCardRefused as refusal:
            errors.add_field("pin", Message(refusal.message_ja, refusal.message_en))
            return card_page(request, errors, status_code=422)
        try:
            state = registration.open_registration(
                db=db,
                cards=services.cards,
                challenge_id=issued.challenge_id,
                certificate_der=answer.certificate_der,
                signature=answer.signature,
                now=services.clock.now(),
                ttl_seconds=services.settings.registration_ttl_seconds,
            )
        except ApiError as error:
            errors.add_api_error(error)
            return card_page(request, errors, status_code=error.status)
        return opened(state, services)

    @router.post("/card-answer")
    def answer_with_card_helper(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        challenge_id: Annotated[str, Form(max_length=64)] = "",
        certificate: Annotated[str, Form(max_length=8192)] = "",
        signature: Annotated[str, Form(max_length=1024)] = "",
    ) -> Response:
        """The card helper's answer to our challenge, posted by card-helper.js; opens the form."""
        errors = FormErrors(page_language(request))
        if _posted_from_another_site(request):
            # Another site must not plant a registration of its own card in this browser.
            errors.add_general(CROSS_SITE_ANSWER)
            return card_page(request, errors, status_code=403)
        try:
            certificate_der = base64.b64decode(certificate, validate=True)
            signature_bytes = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            errors.add_general(CARD_ANSWER_BROKEN)
            return card_page(request, errors, status_code=422)
        try:
            state = registration.open_registration(
                db=db,
                cards=services.cards,
                challenge_id=challenge_id,
                certificate_der=certificate_der,
                signature=signature_bytes,
                now=services.clock.now(),
                ttl_seconds=services.settings.registration_ttl_seconds,
            )
        except ApiError as error:
            errors.add_api_error(error)
            return card_page(request, errors, status_code=error.status)
        return opened(state, services)

    def opened(state: CandidateState, services: ServicesDep) -> Response:
        """Keep the opened registration in the page's cookie and show the form."""
        response = redirect("/my/register")
        set_token_cookie(
            response,
            REGISTRATION,
            state.registration_id,
            max_age=services.settings.registration_ttl_seconds,
            secure=secure,
        )
        return response

    @router.post("")
    def submit(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        action: Annotated[str, Form(max_length=16)] = "complete",
        candidate: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=256)] = "",
        password_confirmation: Annotated[str, Form(max_length=256)] = "",
        email: Annotated[str, Form(max_length=320)] = "",
        email_confirmation: Annotated[str, Form(max_length=320)] = "",
        notify_points_granted: Annotated[bool, Form()] = False,
        notify_points_expired: Annotated[bool, Form()] = False,
        notify_password_changed: Annotated[bool, Form()] = False,
        notify_mykey_id_changes: Annotated[bool, Form()] = False,
        prefecture_code: Annotated[str, Form(max_length=8)] = "",
        municipality_code: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        """One of 「自動生成」, 「重複チェック」 or 「登録」, chosen by the button pressed."""
        state = _open_state(request, services, db)
        errors = FormErrors(page_language(request))
        if state is None:
            errors.add_general(REGISTRATION_EXPIRED)
            response = card_page(request, errors, status_code=410)
            clear_cookie(response, REGISTRATION, secure=secure)
            return response
        values = FormValues(
            candidate=candidate.strip(),
            email=email.strip(),
            email_confirmation=email_confirmation.strip(),
            notify_points_granted=notify_points_granted,
            notify_points_expired=notify_points_expired,
            notify_password_changed=notify_password_changed,
            notify_mykey_id_changes=notify_mykey_id_changes,
            prefecture_code=prefecture_code,
            municipality_code=municipality_code,
        )
        context = _context(services, db)
        notes: list[Message] = []
        try:
            if action == "generate":
                state = registration.generate_candidate(
                    context=context, registration_id=state.registration_id
                )
                values = _with_candidate(values, state.candidate)
            elif action == "check":
                state = registration.check_candidate(
                    context=context,
                    registration_id=state.registration_id,
                    candidate=values.candidate,
                )
                notes.append(
                    Message(
                        "このマイキーID候補は使用できます。",
                        "This MyKey ID candidate is available.",
                    )
                )
            else:
                return _complete(
                    request, services, db, state, values, password, password_confirmation, errors
                )
        except MykeyIdTaken as error:
            errors.add_field("candidate", error.message)
            generated = error.extensions.get("generated_candidate")
            if isinstance(generated, str):
                notes.append(GENERATED_AFTER_ERRORS)
                values = _with_candidate(values, generated)
        except (GenerationLimitReached, CandidateFixed) as error:
            errors.add_field("candidate", error.message)
        except RegistrationExpired as error:
            errors.add_general(error.message)
            response = card_page(request, errors, status_code=410)
            clear_cookie(response, REGISTRATION, secure=secure)
            return response
        except InvalidFields as error:
            errors.add_field_errors(error.errors, rename={})
        except ApiError as error:
            errors.add_general(error.message)
        refreshed = _open_state(request, services, db) or state
        if refreshed.candidate_fixed:
            values = _with_candidate(values, refreshed.candidate)
        return form_page(
            request, refreshed, values, errors, notes, status_code=422 if errors else 200
        )

    def _complete(  # noqa: PLR0917 - a page helper called positionally
        request: Request,
        services: ServicesDep,
        db: DbDep,
        state: CandidateState,
        values: FormValues,
        password: str,
        password_confirmation: str,
        errors: FormErrors,
    ) -> Response:
        form = RegistrationForm(
            password=password,
            password_confirmation=password_confirmation,
            email=values.email or None,
            email_confirmation=values.email_confirmation or None,
            notify_points_granted=values.notify_points_granted,
            notify_points_expired=values.notify_points_expired,
            notify_password_changed=values.notify_password_changed,
            notify_mykey_id_changes=values.notify_mykey_id_changes,
            prefecture_code=values.prefecture_code,
            municipality_code=values.municipality_code,
        )
        try:
            completed = registration.complete_registration(
                context=_context(services, db),
                passwords=services.passwords,
                registration_id=state.registration_id,
                form=form,
                mail_domain=services.mail_domain,
            )
        except InvalidFields as error:
            errors.add_field_errors(error.errors, rename={})
            if not values.municipality_code and "municipality_code" in errors.by_field:
                # nothing chosen: say "choose", not the code format an API client needs
                errors.by_field["municipality_code"] = FIELD_MESSAGES[
                    "municipality-unknown"
                ].in_language(errors.language)
        except MykeyIdTaken as error:
            errors.add_field("candidate", error.message)
        except RegistrationExpired as error:
            errors.add_general(error.message)
            response = card_page(request, errors, status_code=410)
            clear_cookie(response, REGISTRATION, secure=secure)
            return response
        except ApiError as error:
            errors.add_general(error.message)
        else:
            response = renderer.render(
                request,
                "my/register_done.html",
                {"section": "my", "completed": completed},
                status_code=201,
            )
            clear_cookie(response, REGISTRATION, secure=secure)
            return response
        refreshed = _open_state(request, services, db) or state
        return form_page(
            request,
            refreshed,
            _with_candidate(values, refreshed.candidate),
            errors,
            status_code=422,
        )

    return router


def _with_candidate(values: FormValues, candidate: str | None) -> FormValues:
    """Return `values` showing `candidate` in the candidate field."""
    return FormValues(**{**values.__dict__, "candidate": candidate or ""})
