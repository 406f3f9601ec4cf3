"""Treasurers' pages: the period statement with its lines and transactions, close the period,
record a payment, download the CSV, and a chart of what is owed per business.

They call the chain side's statement functions (`api.chain.statements`) and the ledger adapter,
as the treasurers' HTTP API does, and audit every write with the same action names. The
statement is brought up to the node's finalized head first (the indexer catches up), so it is
what the Settlement contract holds now. Without a chain side the page says "not connected".
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.chain import settlement
from api.chain.side import ChainSide
from api.chain.statements import compare_with_chain, statement_csv, statement_from_index
from api.deps import DbDep, ServicesDep
from api.errors import ApiError, FieldError
from api.messages import Message
from api.pages.charts import Bar, bar_chart
from api.pages.event_words import municipality_name
from api.pages.rendering import FormErrors, page_language, redirect
from api.pages.runtime import PagesRuntime
from api.pages.staff import current_staff
from api.services.container import Services
from api.services.staff import StaffRole, staff_actor
from api.store.models import StaffAccount

logger = logging.getLogger(__name__)

CLOSED = Message("精算期間を締めました。", "The settlement period is closed.")
PAID = Message("支払いを記録しました。", "The payment is recorded.")
NOT_TREASURER = Message(
    "この画面は会計担当の職員アカウントで利用できます。",
    "This page is for municipal treasurer accounts.",
)


def _chain(request: Request) -> ChainSide | None:
    """The app's chain side (`create_app(chain=...)`), or None."""
    chain: ChainSide | None = getattr(request.app.state, "chain", None)
    return chain


def _caught_up(request: Request) -> None:
    """Bring the index up to the node's finalized head before a statement is built.

    The app's follower thread may be storing the same blocks at this moment; whichever stores a
    block second hits the index's uniqueness constraint, which here only means "already stored".
    """
    indexer = getattr(request.app.state, "indexer", None)
    if indexer is None:
        return
    try:
        indexer.catch_up()
    except IntegrityError:
        logger.info("index caught up by the follower thread meanwhile")


def _municipality(staff: StaffAccount) -> int | None:
    organisation = staff.organisation or ""
    return int(organisation) if len(organisation) == 5 and organisation.isdigit() else None


def build_router(runtime: PagesRuntime) -> APIRouter:  # noqa: PLR0915 - one small handler per page
    """Return the treasurer pages under /staff/treasury."""
    router = APIRouter(prefix="/staff/treasury", include_in_schema=False)
    renderer = runtime.renderer

    def treasurer(request: Request, services: Services, db: Session) -> StaffAccount | None:
        staff = current_staff(request, services, db)
        if staff is None or staff.role != StaffRole.TREASURER or _municipality(staff) is None:
            return None
        return staff

    def statement_page(  # noqa: PLR0917 - a page helper called positionally
        request: Request,
        db: Session,
        staff: StaffAccount,
        period: int | None,
        errors: FormErrors | None = None,
        notice: Message | None = None,
        status_code: int = 200,
    ) -> Response:
        language = page_language(request)
        municipality = _municipality(staff)
        assert municipality is not None  # checked by `treasurer`
        chain = _chain(request)
        context: dict[str, object] = {
            "section": "staff",
            "staff": staff,
            "municipality_name": municipality_name(municipality, language),
            "connected": chain is not None,
            "errors": errors or FormErrors(language),
            "notice": notice,
        }
        if chain is None:
            return renderer.render(request, "staff/treasury.html", context, status_code=503)
        try:
            current = chain.ledger.current_period(municipality)
            shown = current if period is None else period
            _caught_up(request)
            statement = compare_with_chain(chain, statement_from_index(db, municipality, shown))
        except ApiError as error:
            context["errors"].add_general(error.message)  # type: ignore[attr-defined]
            context["connected"] = False
            return renderer.render(request, "staff/treasury.html", context, status_code=503)
        businesses = sorted(statement.businesses.values(), key=lambda line: line.business)
        chart = None
        if any(line.payable for line in businesses):
            chart = bar_chart(
                [Bar(f"#{line.business}", line.payable) for line in businesses],
                title=Message("事業者ごとの支払額", "Payable per business").in_language(language),
                unit=Message("円", " yen").in_language(language),
                chart_id="payable-per-business",
            )
        context.update(
            {
                "period": shown,
                "current": current,
                "statement": statement,
                "businesses": businesses,
                "partners": sorted(statement.partners.values(), key=lambda line: line.partner),
                "chart": chart,
            }
        )
        return renderer.render(request, "staff/treasury.html", context, status_code=status_code)

    @router.get("")
    def show(
        request: Request, services: ServicesDep, db: DbDep, period: int | None = None
    ) -> Response:
        """The statement of `period` (the open one by default)."""
        staff = treasurer(request, services, db)
        if staff is None:
            return redirect("/staff")
        return statement_page(request, db, staff, period)

    @router.get("/{period}/statement.csv")
    def download(request: Request, services: ServicesDep, db: DbDep, period: int) -> Response:
        """The statement as CSV, one row per line with its transactions."""
        staff = treasurer(request, services, db)
        chain = _chain(request)
        municipality = _municipality(staff) if staff is not None else None
        if staff is None or chain is None or municipality is None:
            return redirect("/staff")
        _caught_up(request)
        built = compare_with_chain(chain, statement_from_index(db, municipality, period))
        filename = f"statement-{municipality:05d}-{period}.csv"
        return Response(
            statement_csv(built),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @router.post("/{period}/close")
    def close(request: Request, services: ServicesDep, db: DbDep, period: int) -> Response:
        """Close the period on-chain; audited."""
        staff = treasurer(request, services, db)
        chain = _chain(request)
        if staff is None or chain is None:
            return redirect("/staff")
        municipality = _municipality(staff)
        assert municipality is not None
        try:
            settlement.close_period(
                db=db,
                chain=chain,
                actor=staff_actor(staff),
                municipality=municipality,
                period=period,
                now=services.clock.now(),
            )
        except ApiError as error:
            errors = FormErrors(page_language(request))
            errors.add_general(error.message)
            return statement_page(request, db, staff, period, errors, status_code=error.status)
        return statement_page(request, db, staff, period, notice=CLOSED)

    @router.post("/{period}/payments")
    def pay(
        *,
        request: Request,
        services: ServicesDep,
        db: DbDep,
        period: int,
        side: Annotated[str, Form(max_length=16)] = "business",
        counterparty: Annotated[str, Form(max_length=20)] = "",
        amount: Annotated[str, Form(max_length=20)] = "",
        bank_reference: Annotated[str, Form(max_length=128)] = "",
    ) -> Response:
        """Record the bank transfer settling one line; only the reference's hash goes on-chain."""
        staff = treasurer(request, services, db)
        chain = _chain(request)
        if staff is None or chain is None:
            return redirect("/staff")
        municipality = _municipality(staff)
        assert municipality is not None
        errors = FormErrors(page_language(request))
        if not amount.isdigit() or int(amount) < 1:
            errors.add_field("amount", FieldError.of("amount", "invalid").message)
        if not bank_reference.strip():
            errors.add_field("bank_reference", FieldError.of("bank_reference", "required").message)
        if side not in ("business", "partner") or not counterparty.isdigit():
            errors.add_general(FieldError.of("counterparty", "invalid").message)
        if errors:
            return statement_page(request, db, staff, period, errors, status_code=422)
        try:
            settlement.record_payment(
                db=db,
                chain=chain,
                actor=staff_actor(staff),
                municipality=municipality,
                period=period,
                side=side,
                counterparty=int(counterparty),
                amount=int(amount),
                bank_reference=bank_reference.strip(),
                now=services.clock.now(),
            )
        except ApiError as error:
            errors.add_general(error.message)
            return statement_page(request, db, staff, period, errors, status_code=error.status)
        return statement_page(request, db, staff, period, notice=PAID)

    return router
