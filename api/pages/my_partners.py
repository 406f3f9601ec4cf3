"""My Page's partner corner: link or unlink a partner member number, redeem a one-off coupon code.

The page calls the same services as the HTTP API (api.services.partner_links and coupons) for
the resident of the session cookie; wrong fields are shown beside their field, Japanese first.
A redeemed code shows the reserve it made (amount and deadline) on the page that answers it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from api.chain.reserves import Conversion
from api.deps import DbDep, ServicesDep
from api.errors import ApiError, FieldError, InvalidFields
from api.messages import FIELD_MESSAGES, Message
from api.pages.explorer import jst_time
from api.pages.my_page import current_resident
from api.pages.rendering import FormErrors, page_language, redirect
from api.pages.runtime import PagesRuntime
from api.services.accounts import AuthenticatedResident, resident_actor
from api.services.coupons import redeem_coupon
from api.services.partner_links import (
    link_partner,
    partner_links_of,
    unlink_partner,
)

LINKED = Message("会員番号を連携しました。", "The member number is linked.")
UNLINKED = Message("会員番号の連携を解除しました。", "The member number is unlinked.")
CONSENT_NEEDED = Message(
    "連携するには同意が必要です。", "Please consent to link the member number."
)
PARTNER_ID = Message(
    "提携事業者の番号を半角数字で入力してください。", "Enter the partner's number in digits."
)
MAX_PARTNER = 2**63 - 1


def _redeemed(conversion: Conversion) -> Message:
    deadline = jst_time(conversion.deadline)
    return Message(
        f"{conversion.amount:,}ポイントを予約しました。受け取り期限は{deadline}です。",
        f"{conversion.amount:,} points are reserved for you until {deadline}.",
    )


def build_router(runtime: PagesRuntime) -> APIRouter:
    """Return the partner pages under /my/partners."""
    router = APIRouter(prefix="/my/partners", include_in_schema=False)
    renderer = runtime.renderer

    def page(  # noqa: PLR0917 - a page helper called positionally
        request: Request,
        services: ServicesDep,
        db: DbDep,
        resident: AuthenticatedResident,
        errors: FormErrors | None = None,
        notice: Message | None = None,
        status_code: int = 200,
        entered: dict[str, str] | None = None,
    ) -> Response:
        links = partner_links_of(db=db, cipher=services.cipher, account=resident.account)
        return renderer.render(
            request,
            "my/partners.html",
            {
                "section": "my",
                "links": links,
                "errors": errors or FormErrors(page_language(request)),
                "notice": notice,
                "entered": entered or {},
                "day": lambda timestamp: jst_time(timestamp)[:10],
            },
            status_code=status_code,
        )

    @router.get("")
    def show(request: Request, services: ServicesDep, db: DbDep) -> Response:
        """The resident's partner links, the link form and the coupon form."""
        resident = current_resident(request, services, db)
        if resident is None:
            return redirect("/my/login")
        saved = {"linked": LINKED, "unlinked": UNLINKED}.get(request.query_params.get("saved", ""))
        return page(request, services, db, resident, notice=saved)

    @router.post("/links")
    def link(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        partner: Annotated[str, Form(max_length=20)] = "",
        member_number: Annotated[str, Form(max_length=64)] = "",
        consent: Annotated[bool, Form()] = False,
    ) -> Response:
        """Link (or replace) a member number, with the resident's consent."""
        resident = current_resident(request, services, db)
        if resident is None:
            return redirect("/my/login")
        errors = FormErrors(page_language(request))
        entered = {"partner": partner, "member_number": member_number}
        partner_id = int(partner) if partner.isdecimal() and 0 < int(partner) <= MAX_PARTNER else 0
        if not partner_id:
            errors.add_field("partner", PARTNER_ID)
        if not member_number:
            errors.add_field("member_number", FIELD_MESSAGES["required"])
        if not consent:
            errors.add_field("consent", CONSENT_NEEDED)
        if errors:
            return page(request, services, db, resident, errors, status_code=422, entered=entered)
        try:
            link_partner(
                db=db,
                cipher=services.cipher,
                hash_key=services.lookup_hash_key,
                actor=resident_actor(resident.account),
                account=resident.account,
                partner=partner_id,
                member_number=member_number,
                now=services.clock.now(),
            )
        except ApiError as error:
            errors.add_api_error(error, on_field="member_number")
            return page(
                request, services, db, resident, errors, status_code=error.status, entered=entered
            )
        return redirect("/my/partners?saved=linked")

    @router.post("/links/{partner}/unlink")
    def unlink(
        request: Request,
        services: ServicesDep,
        db: DbDep,
        partner: Annotated[int, Path(ge=1, le=MAX_PARTNER)],
    ) -> Response:
        """Remove the link at `partner`."""
        resident = current_resident(request, services, db)
        if resident is None:
            return redirect("/my/login")
        try:
            unlink_partner(
                db=db,
                actor=resident_actor(resident.account),
                account=resident.account,
                partner=partner,
                now=services.clock.now(),
            )
        except ApiError as error:
            errors = FormErrors(page_language(request))
            errors.add_general(error.message)
            return page(request, services, db, resident, errors, status_code=error.status)
        return redirect("/my/partners?saved=unlinked")

    @router.post("/coupons")
    def redeem(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        code: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        """Redeem a one-off code; the reserve it made is shown on the answer."""
        resident = current_resident(request, services, db)
        if resident is None:
            return redirect("/my/login")
        errors = FormErrors(page_language(request))
        try:
            if not code.strip():
                raise InvalidFields([FieldError.of("code", "required")])
            conversion = redeem_coupon(
                db=db,
                chain=getattr(request.app.state, "chain", None),
                hash_key=services.lookup_hash_key,
                policy=services.lockout,
                account=resident.account,
                actor=resident_actor(resident.account),
                code_text=code,
                now=services.clock.now(),
            )
        except ApiError as error:
            errors.add_api_error(error, on_field="code")
            return page(
                request,
                services,
                db,
                resident,
                errors,
                status_code=error.status,
                entered={"code": code},
            )
        return page(request, services, db, resident, notice=_redeemed(conversion))

    return router
