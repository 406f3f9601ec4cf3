"""The staff console's programme pages: settings and grant budget, businesses' uses, terminals,
event accounts, for municipal staff of one municipality.

Each page reads the programme straight from the ledger (api.chain.programme) and each form is one
ledger write signed with the municipality's admin key, audited with the same action names as the
programme's HTTP API (api.routes.programme). The page shows a write's result with its
transaction hash linked to the explorer; a refusal is shown in plain words beside the field it
concerns (the refusal's `field`), or above the form when it concerns no one field. The page only
checks that a number fits the ledger's field width; the rules themselves (ranges, an end after the
start, one management terminal) are the ledger's, so the page and the API can never disagree.
Times are entered and shown in JST.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.chain.programme import (
    MUNICIPAL_TERMINAL_KINDS,
    TERMINAL_KIND_SLUGS,
    TERMINAL_KIND_WORDS,
    USE_SLUGS,
    USE_WORDS,
    ProgrammeLedger,
    parse_terminal_address,
)
from api.chain.side import ChainSide
from api.deps import DbDep, ServicesDep
from api.errors import ApiError, FieldError
from api.messages import Message
from api.pages.event_words import municipality_name
from api.pages.explorer import jst_time
from api.pages.rendering import FormErrors, page_language, redirect
from api.pages.runtime import PagesRuntime
from api.pages.staff import current_staff
from api.services.audit import record_audit
from api.services.container import Services
from api.services.staff import StaffRole, staff_actor
from api.store.models import StaffAccount
from contracts.domain import Use, fiscal_year

JST = timezone(timedelta(hours=9), "JST")
SECONDS_PER_HOUR = 3600
UINT16 = 2**16 - 1
UINT32 = 2**32 - 1
MAX_CAP = 10**15
"""A cap far beyond any municipality's yearly grants; bigger numbers are typing mistakes."""

NOT_CONNECTED = Message("台帳とはまだ接続されていません。", "Not yet connected to the ledger.")
NOT_WHOLE_NUMBER = Message(
    "半角数字（0以上の整数）で入力してください。", "Enter a whole number of 0 or more."
)
NOT_A_TIME = Message(
    "日時を「2026-04-01T09:00」の形で入力してください（日本時間）。",
    "Enter a date and time like 2026-04-01T09:00 (Japan time).",
)

SETTINGS_CHANGED = Message("ポイントの設定を変更しました。", "The point settings are changed.")
PAUSED = Message(
    "この自治体のポイントの動きをすべて止めました。", "Every point movement here is paused."
)
RESUMED = Message("ポイントの動きを再開しました。", "Point movements are resumed.")
BUDGET_SET = Message("付与予算を設定しました。", "The grant budget is set.")
ACCEPTANCE_SET = Message("事業者の利用用途を変更しました。", "The business's uses are changed.")
TERMINAL_REGISTERED = Message("端末を登録しました。", "The terminal is registered.")
TERMINAL_DEREGISTERED = Message("端末の登録を解除しました。", "The terminal is deregistered.")


@dataclass(frozen=True)
class Notice:
    """What a write did, and its final transaction."""

    message: Message
    transaction_hash: str


def parse_whole_number(text: str, highest: int) -> int | None:
    """Return `text` as an integer 0..`highest`, or None when it is not one."""
    cleaned = text.strip().replace(",", "")
    if not cleaned.isascii() or not cleaned.isdigit():
        return None
    value = int(cleaned)
    return value if value <= highest else None


def parse_jst(text: str) -> int | None:
    """Return the Unix time of a `datetime-local` value read as JST, or None."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None:
        return None
    return int(moment.replace(tzinfo=JST).timestamp())


def jst_input(timestamp: int) -> str:
    """Return a Unix time as a `datetime-local` value in JST."""
    return datetime.fromtimestamp(timestamp, JST).strftime("%Y-%m-%dT%H:%M")


def _staff_municipality(staff: StaffAccount | None) -> int | None:
    if staff is None or staff.role != StaffRole.MUNICIPAL_STAFF:
        return None
    organisation = staff.organisation or ""
    return int(organisation) if len(organisation) == 5 and organisation.isdigit() else None


def _chain(request: Request) -> ChainSide | None:
    chain: ChainSide | None = getattr(request.app.state, "chain", None)
    return chain


def _add_refusal(errors: FormErrors, error: ApiError, fields: tuple[str, ...]) -> None:
    """Show a refusal beside its field when the page has that field, else above the form."""
    field = error.extensions.get("field")
    if isinstance(field, str) and field in fields:
        errors.add_field(field, error.message)
    else:
        errors.add_general(error.message)


@dataclass
class _Visit:
    """One request by a municipal staff member, with what every programme page needs."""

    request: Request
    services: Services
    db: Session
    staff: StaffAccount
    municipality: int
    programme: ProgrammeLedger | None
    errors: FormErrors

    def audit(
        self, action: str, target: str, transaction_hash: str, **detail: str | int | bool
    ) -> None:
        record_audit(
            db=self.db,
            at=self.services.clock.now(),
            actor=staff_actor(self.staff),
            action=action,
            target=f"{self.municipality:05d}{target}",
            transaction_hash=transaction_hash,
            detail=detail,
        )
        self.db.commit()

    def write(
        self,
        send: Callable[[], str],
        *,
        refused: Callable[[int], Response],
        done: Callable[[Notice], Response],
        words: Message,
        action: str,
        target: str | Callable[[], str] = "",
        fields: tuple[str, ...] = (),
        **detail: str | int | bool,
    ) -> Response:
        """Send one ledger write, then audit it and answer `done` with `words` and its transaction.

        A refusal is shown beside the one of `fields` it names (else above the form) and answered
        by `refused` with the refusal's status; nothing is audited then, as nothing changed.
        A callable `target` is worked out only once the ledger accepted the write (so input the
        write refuses is never parsed ahead of it).
        """
        try:
            transaction_hash = send()
        except ApiError as error:
            _add_refusal(self.errors, error, fields)
            return refused(error.status)
        self.audit(
            action, target if isinstance(target, str) else target(), transaction_hash, **detail
        )
        return done(Notice(words, transaction_hash))


def build_router(runtime: PagesRuntime) -> APIRouter:  # noqa: PLR0915 - one small handler per form
    """Return the programme pages under /staff/programme."""
    router = APIRouter(prefix="/staff/programme", include_in_schema=False)
    renderer = runtime.renderer

    def visit(request: Request, services: Services, db: Session) -> _Visit | None:
        staff = current_staff(request, services, db)
        municipality = _staff_municipality(staff)
        if staff is None or municipality is None:
            return None
        chain = _chain(request)
        return _Visit(
            request,
            services,
            db,
            staff,
            municipality,
            None if chain is None else ProgrammeLedger(chain),
            FormErrors(page_language(request)),
        )

    def render(
        v: _Visit,
        template: str,
        page: str,
        read: Callable[[ProgrammeLedger], dict[str, object]],
        *,
        notice: Notice | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        language = page_language(v.request)
        context: dict[str, object] = {
            "section": "staff",
            "page": page,
            "staff": v.staff,
            "municipality_name": municipality_name(v.municipality, language),
            "connected": v.programme is not None,
            "errors": v.errors,
            "notice": notice,
            "values": values or {},
            "use_words": USE_WORDS,
            "use_slugs": USE_SLUGS,
            "uses": list(Use),
            "when": jst_time,
            "jst_input": jst_input,
        }
        if v.programme is None:
            v.errors.add_general(NOT_CONNECTED)
            return renderer.render(v.request, template, context, status_code=503)
        try:
            context.update(read(v.programme))
        except ApiError as error:
            v.errors.add_general(error.message)
            context["connected"] = False
            return renderer.render(v.request, template, context, status_code=error.status)
        return renderer.render(v.request, template, context, status_code=status_code)

    # ---- settings, pause and grant budget -------------------------------------------------

    def settings_page(
        v: _Visit,
        *,
        shown_year: int | None = None,
        notice: Notice | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        year = shown_year or fiscal_year(v.services.clock.now())

        def read(programme: ProgrammeLedger) -> dict[str, object]:
            settings = programme.settings(v.municipality)
            budget = programme.grant_budget(v.municipality, year)
            shown = {
                "validity_days": str(settings.validity_days),
                "voucher_validity_days": str(settings.voucher_validity_days),
                "refund_window_hours": str(settings.refund_window_seconds // SECONDS_PER_HOUR),
                "accepts_conversions": "true" if settings.accepts_conversions else "",
                "cap": str(budget.cap) if budget.capped else "",
                "capped": "true" if budget.capped else "",
            }
            shown.update(values or {})
            return {
                "settings": settings,
                "budget": budget,
                "fiscal_year": year,
                "values": shown,
                "percent_used": (
                    min(100, budget.used * 100 // budget.cap)
                    if budget.capped and budget.cap
                    else (100 if budget.capped else 0)
                ),
            }

        return render(
            v,
            "staff/programme.html",
            "settings",
            read,
            notice=notice,
            status_code=status_code,
        )

    @router.get("")
    def show_settings(
        request: Request, services: ServicesDep, db: DbDep, fiscal_year: str = ""
    ) -> Response:
        """Point settings, pause, and the grant budget of a fiscal year (this one by default)."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        year = parse_whole_number(fiscal_year[:8], 2999)
        return settings_page(v, shown_year=year if year is not None and year >= 2000 else None)

    @router.post("/settings")
    def change_settings(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        validity_days: Annotated[str, Form(max_length=16)] = "",
        voucher_validity_days: Annotated[str, Form(max_length=16)] = "",
        refund_window_hours: Annotated[str, Form(max_length=16)] = "",
        accepts_conversions: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        """Change expiry days, the refund window and conversions; audited."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        values = {
            "validity_days": validity_days.strip(),
            "voucher_validity_days": voucher_validity_days.strip(),
            "refund_window_hours": refund_window_hours.strip(),
            "accepts_conversions": "true" if accepts_conversions else "",
        }
        days = parse_whole_number(validity_days, UINT16)
        voucher_days = parse_whole_number(voucher_validity_days, UINT16)
        hours = parse_whole_number(refund_window_hours, UINT32 // SECONDS_PER_HOUR)
        for name, parsed in (
            ("validity_days", days),
            ("voucher_validity_days", voucher_days),
            ("refund_window_hours", hours),
        ):
            if parsed is None:
                v.errors.add_field(name, NOT_WHOLE_NUMBER)
        programme = v.programme
        if v.errors or programme is None or days is None or voucher_days is None:
            return settings_page(v, values=values, status_code=422)
        refund_window_seconds = (hours or 0) * SECONDS_PER_HOUR
        return v.write(
            lambda: programme.set_settings(
                v.municipality,
                validity_days=days,
                voucher_validity_days=voucher_days,
                refund_window_seconds=refund_window_seconds,
                accepts_conversions=bool(accepts_conversions),
            ),
            refused=lambda status: settings_page(v, values=values, status_code=status),
            done=lambda notice: settings_page(v, notice=notice),
            words=SETTINGS_CHANGED,
            action="programme-settings-changed",
            fields=("validity_days", "voucher_validity_days"),
            validity_days=days,
            voucher_validity_days=voucher_days,
            refund_window_seconds=refund_window_seconds,
            accepts_conversions=bool(accepts_conversions),
        )

    @router.post("/pause")
    def change_pause(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        paused: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        """Pause or resume every point movement of the municipality; audited."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        programme = v.programme
        if programme is None:
            return settings_page(v)
        stop = paused == "true"
        return v.write(
            lambda: programme.set_paused(v.municipality, stop),
            refused=lambda status: settings_page(v, status_code=status),
            done=lambda notice: settings_page(v, notice=notice),
            words=PAUSED if stop else RESUMED,
            action="programme-paused" if stop else "programme-resumed",
            paused=stop,
        )

    @router.post("/grant-budget")
    def change_grant_budget(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        fiscal_year: Annotated[str, Form(max_length=8)] = "",
        capped: Annotated[str, Form(max_length=8)] = "",
        cap: Annotated[str, Form(max_length=24)] = "",
    ) -> Response:
        """Cap the fiscal year's grants, or lift the cap; audited."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        year = parse_whole_number(fiscal_year, 2999)
        values = {"cap": cap.strip(), "capped": "true" if capped else ""}
        if year is None or year < 2000:
            v.errors.add_general(FieldError.of("fiscal_year", "invalid").message)
            return settings_page(v, values=values, status_code=422)
        amount = parse_whole_number(cap, MAX_CAP) if capped else 0
        if amount is None:
            v.errors.add_field("cap", NOT_WHOLE_NUMBER)
        programme = v.programme
        if v.errors or programme is None or amount is None:
            return settings_page(v, shown_year=year, values=values, status_code=422)
        return v.write(
            lambda: programme.set_grant_budget(
                v.municipality, year, capped=bool(capped), cap=amount
            ),
            refused=lambda status: settings_page(
                v, shown_year=year, values=values, status_code=status
            ),
            done=lambda notice: settings_page(v, shown_year=year, notice=notice),
            words=BUDGET_SET,
            action="grant-budget-set",
            target=f"/grant-budget/{year}",
            fields=("cap",),
            capped=bool(capped),
            cap=str(amount),
        )

    # ---- businesses -----------------------------------------------------------------------

    def businesses_page(
        v: _Visit, *, notice: Notice | None = None, status_code: int = 200
    ) -> Response:
        def read(programme: ProgrammeLedger) -> dict[str, object]:
            return {"businesses": programme.businesses(v.municipality)}

        return render(
            v,
            "staff/programme_businesses.html",
            "businesses",
            read,
            notice=notice,
            status_code=status_code,
        )

    @router.get("/businesses")
    def show_businesses(request: Request, services: ServicesDep, db: DbDep) -> Response:
        """Every business with a checkbox per use."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        return businesses_page(v)

    @router.post("/businesses/{business}")
    async def change_acceptance(
        request: Request, services: ServicesDep, db: DbDep, business: int
    ) -> Response:
        """Replace the uses `business` accepts the municipality's points for; audited."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        form = await request.form()
        by_slug = {slug: use for use, slug in USE_SLUGS.items()}
        uses = sorted({by_slug[str(item)] for item in form.getlist("uses") if item in by_slug})
        programme = v.programme
        if programme is None or not 1 <= business <= 2**64 - 1:
            return businesses_page(v, status_code=404)
        return v.write(
            lambda: programme.set_business_acceptance(v.municipality, business, uses),
            refused=lambda status: businesses_page(v, status_code=status),
            done=lambda notice: businesses_page(v, notice=notice),
            words=ACCEPTANCE_SET,
            action="business-acceptance-set",
            target=f"/business/{business}",
            uses=",".join(USE_SLUGS[use] for use in uses),
        )

    # ---- terminals ------------------------------------------------------------------------

    def terminals_page(
        v: _Visit,
        *,
        notice: Notice | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        def read(programme: ProgrammeLedger) -> dict[str, object]:
            return {
                "terminals": programme.terminals(v.municipality),
                "kinds": MUNICIPAL_TERMINAL_KINDS,
                "kind_slugs": TERMINAL_KIND_SLUGS,
                "kind_words": TERMINAL_KIND_WORDS,
            }

        return render(
            v,
            "staff/programme_terminals.html",
            "terminals",
            read,
            notice=notice,
            values=values,
            status_code=status_code,
        )

    @router.get("/terminals")
    def show_terminals(request: Request, services: ServicesDep, db: DbDep) -> Response:
        """The municipality's registered terminals and the register form."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        return terminals_page(v)

    @router.post("/terminals")
    def register_terminal(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        address: Annotated[str, Form(max_length=64)] = "",
        kind: Annotated[str, Form(max_length=32)] = "",
        management: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        """Register a terminal by its address and kind; audited."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        values = {"address": address.strip(), "kind": kind, "management": management}
        chosen = next((k for k in MUNICIPAL_TERMINAL_KINDS if TERMINAL_KIND_SLUGS[k] == kind), None)
        if chosen is None:
            v.errors.add_field("kind", FieldError.of("kind", "invalid").message)
        if not address.strip():
            v.errors.add_field("address", FieldError.of("address", "required").message)
        programme = v.programme
        if v.errors or programme is None or chosen is None:
            return terminals_page(v, values=values, status_code=422)
        return v.write(
            lambda: programme.register_terminal(
                v.municipality, address.strip(), chosen, management=bool(management)
            ),
            refused=lambda status: terminals_page(v, values=values, status_code=status),
            done=lambda notice: terminals_page(v, notice=notice),
            words=TERMINAL_REGISTERED,
            action="terminal-registered",
            target=lambda: f"/terminal/{parse_terminal_address(address)}",
            fields=("address", "kind", "management"),
            kind=kind,
            management=bool(management),
        )

    @router.post("/terminals/deregister")
    def deregister_terminal(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        address: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        """Deregister one of the municipality's terminals; audited."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        programme = v.programme
        if programme is None:
            return terminals_page(v)
        return v.write(
            lambda: programme.deregister_terminal(v.municipality, address.strip()),
            refused=lambda status: terminals_page(v, status_code=status),
            done=lambda notice: terminals_page(v, notice=notice),
            words=TERMINAL_DEREGISTERED,
            action="terminal-deregistered",
            target=lambda: f"/terminal/{parse_terminal_address(address)}",
        )

    # ---- event accounts -------------------------------------------------------------------

    def events_page(
        v: _Visit,
        *,
        notice: Notice | None = None,
        values: dict[str, str] | None = None,
        chosen_uses: list[str] | None = None,
        status_code: int = 200,
    ) -> Response:
        def read(programme: ProgrammeLedger) -> dict[str, object]:
            return {
                "event_accounts": programme.event_accounts(v.municipality),
                "chosen_uses": chosen_uses or [],
                "now": v.services.clock.now(),
            }

        return render(
            v,
            "staff/programme_events.html",
            "event-accounts",
            read,
            notice=notice,
            values=values,
            status_code=status_code,
        )

    @router.get("/event-accounts")
    def show_event_accounts(request: Request, services: ServicesDep, db: DbDep) -> Response:
        """The municipality's event accounts and the open form."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        return events_page(v)

    @router.post("/event-accounts")
    async def open_event_account(request: Request, services: ServicesDep, db: DbDep) -> Response:
        """Open an event account; the ledger refuses an end not after the start; audited."""
        v = visit(request, services, db)
        if v is None:
            return redirect("/staff")
        form = await request.form()
        starts_text = str(form.get("starts_at", ""))[:32]
        ends_text = str(form.get("ends_at", ""))[:32]
        chosen = [str(item) for item in form.getlist("uses") if item in USE_SLUGS.values()]
        values = {"starts_at": starts_text, "ends_at": ends_text}
        starts_at, ends_at = parse_jst(starts_text), parse_jst(ends_text)
        if starts_at is None:
            v.errors.add_field("starts_at", NOT_A_TIME)
        if ends_at is None:
            v.errors.add_field("ends_at", NOT_A_TIME)
        if v.errors or v.programme is None or starts_at is None or ends_at is None:
            return events_page(v, values=values, chosen_uses=chosen, status_code=422)
        by_slug = {slug: use for use, slug in USE_SLUGS.items()}
        try:
            opened = v.programme.open_event_account(
                v.municipality,
                starts_at=max(starts_at, 0),
                ends_at=max(ends_at, 0),
                uses=[by_slug[slug] for slug in chosen],
            )
        except ApiError as error:
            _add_refusal(v.errors, error, ("ends_at", "uses"))
            return events_page(v, values=values, chosen_uses=chosen, status_code=error.status)
        v.audit(
            "event-account-opened",
            f"/event-account/{opened.account}",
            opened.transaction_hash,
            starts_at=starts_at,
            ends_at=ends_at,
            uses=",".join(chosen),
        )
        notice = Notice(
            Message(
                f"イベント口座 {opened.account} を開設しました。",
                f"Event account {opened.account} is open.",
            ),
            opened.transaction_hash,
        )
        return events_page(v, notice=notice)

    return router


__all__ = ["build_router", "jst_input", "parse_jst", "parse_whole_number"]
