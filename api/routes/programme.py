"""A municipality's programme over HTTP: settings, businesses' uses, terminals, event accounts,
grant budgets.

Who may do what: reading needs a municipal-staff or treasurer account of THAT municipality;
every write needs a municipal-staff account of THAT municipality (another municipality's staff
get 403, whatever their role). Each write is one Consortium transaction signed with the
municipality's admin key (api.chain.programme), answered only once final, and audited in the
same store transaction with its hash. Ledger refusals come back as problems whose `field`
extension names the body field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.chain.programme import (
    MAX_DAYS,
    MUNICIPAL_TERMINAL_KINDS,
    TERMINAL_KIND_SLUGS,
    USE_SLUGS,
    BusinessAcceptance,
    EventAccount,
    GrantBudget,
    MunicipalTerminal,
    ProgrammeLedger,
    ProgrammeSettings,
    parse_terminal_address,
    parse_uses,
)
from api.deps import CurrentStaff, DbDep, ServicesDep
from api.errors import Forbidden
from api.messages import Message
from api.routes.terminals import ChainDep
from api.services.audit import record_audit
from api.services.container import Services
from api.services.staff import StaffRole, require_role, staff_actor
from api.store.models import StaffAccount
from contracts.domain import fiscal_year

router = APIRouter(prefix="/municipalities/{code}", tags=["programme"])

UseSlug = Literal[
    "facility",
    "local-store",
    "transport",
    "tourism",
    "social-contribution",
    "crowdfunding",
    "online-purchase",
]
MunicipalTerminalKind = Literal["granting", "voucher-issue", "service-id-lookup"]
MunicipalityCodePath = Annotated[
    str, Path(pattern=r"^[0-9]{5}$", description="5-digit municipality code, e.g. `14130`.")
]
UINT32 = 2**32 - 1
UINT64 = 2**64 - 1


def _municipality_of(staff: StaffAccount, code: str, roles: tuple[StaffRole, ...]) -> int:
    """Return `code` as a number once `staff` holds one of `roles` in that municipality."""
    require_role(staff, roles)
    if staff.organisation != code:
        raise Forbidden(
            Message(
                "他の自治体の施策は操作できません。",
                f"Account {staff.login_name} belongs to {staff.organisation or 'no municipality'}"
                f", not to municipality {code}.",
            )
        )
    return int(code)


def reader_municipality(staff: CurrentStaff, code: MunicipalityCodePath) -> int:
    """The municipality a staff member or treasurer of it is reading."""
    return _municipality_of(staff, code, (StaffRole.MUNICIPAL_STAFF, StaffRole.TREASURER))


def writer_municipality(staff: CurrentStaff, code: MunicipalityCodePath) -> int:
    """The municipality a staff member of it is changing."""
    return _municipality_of(staff, code, (StaffRole.MUNICIPAL_STAFF,))


ReadMunicipality = Annotated[int, Depends(reader_municipality)]
WriteMunicipality = Annotated[int, Depends(writer_municipality)]


def get_programme(chain: ChainDep) -> ProgrammeLedger:
    """The programme adapter over the app's chain side (503 problem without one)."""
    return ProgrammeLedger(chain)


ProgrammeDep = Annotated[ProgrammeLedger, Depends(get_programme)]


# ---- schemas ----------------------------------------------------------------------------------


class SettingsIn(BaseModel):
    """The municipality's point settings."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "validity_days": 365,
                    "voucher_validity_days": 180,
                    "refund_window_seconds": 604800,
                    "accepts_conversions": True,
                }
            ]
        }
    )
    validity_days: int = Field(ge=1, le=MAX_DAYS, description="Points expire after this many days.")
    voucher_validity_days: int = Field(ge=1, le=MAX_DAYS)
    refund_window_seconds: int = Field(ge=0, le=UINT32)
    accepts_conversions: bool


class ProgrammeOut(BaseModel):
    """Settings, pause state, management terminal and this fiscal year's grant budget."""

    municipality: str
    paused: bool
    accepts_conversions: bool
    validity_days: int
    voucher_validity_days: int
    refund_window_seconds: int
    management_terminal: str | None
    event_accounts: int
    grant_budget: GrantBudgetOut


class PauseIn(BaseModel):
    """Stop (true) or resume (false) every point movement in the municipality."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"paused": True}]})
    paused: bool


class AcceptanceIn(BaseModel):
    """The uses a business may accept this municipality's points for (empty: none)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"uses": ["local-store"]}]})
    uses: list[UseSlug] = Field(max_length=len(USE_SLUGS))


class BusinessOut(BaseModel):
    """A consortium business and the uses it accepts this municipality's points for."""

    business: int
    name: str
    uses: list[str]


class TerminalIn(BaseModel):
    """One of the municipality's own terminals, by the address of its key."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "address": "0x00000000000000000000000000000000000000a1",
                    "kind": "granting",
                    "management": False,
                }
            ]
        }
    )
    address: str = Field(min_length=42, max_length=42)
    kind: MunicipalTerminalKind
    management: bool = False


class TerminalOut(BaseModel):
    """A registered terminal of the municipality."""

    address: str
    kind: str
    management: bool
    registered_in_block: int


class EventAccountIn(BaseModel):
    """An event account: spendable from `starts_at` to `ends_at` (Unix seconds) for `uses`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"starts_at": 1790000000, "ends_at": 1790600000, "uses": ["local-store"]}]
        }
    )
    starts_at: int = Field(ge=0, le=UINT64)
    ends_at: int = Field(ge=0, le=UINT64)
    uses: list[UseSlug] = Field(min_length=1, max_length=len(USE_SLUGS))


class EventAccountOut(BaseModel):
    """An event account of the municipality."""

    account: int
    starts_at: int
    ends_at: int
    uses: list[str]


class OpenedEventAccountOut(BaseModel):
    """A new event account and its final transaction."""

    account: int
    transaction_hash: str


class GrantBudgetIn(BaseModel):
    """Cap the fiscal year's grants at `cap` points, or lift the cap (`capped` false)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"capped": True, "cap": 5000000}]})
    capped: bool
    cap: int = Field(default=0, ge=0, le=2**255)


class GrantBudgetOut(BaseModel):
    """A fiscal year's cap and the points granted in it so far."""

    fiscal_year: int
    capped: bool
    cap: int
    used: int
    remaining: int | None


class ProgrammeTransactionOut(BaseModel):
    """A final programme change."""

    transaction_hash: str


ProgrammeOut.model_rebuild()


def _budget_out(budget: GrantBudget) -> GrantBudgetOut:
    return GrantBudgetOut(
        fiscal_year=budget.fiscal_year,
        capped=budget.capped,
        cap=budget.cap,
        used=budget.used,
        remaining=budget.remaining,
    )


def _programme_out(settings: ProgrammeSettings, budget: GrantBudget) -> ProgrammeOut:
    return ProgrammeOut(
        municipality=f"{settings.municipality:05d}",
        paused=settings.paused,
        accepts_conversions=settings.accepts_conversions,
        validity_days=settings.validity_days,
        voucher_validity_days=settings.voucher_validity_days,
        refund_window_seconds=settings.refund_window_seconds,
        management_terminal=settings.management_terminal,
        event_accounts=settings.event_accounts,
        grant_budget=_budget_out(budget),
    )


def _business_out(item: BusinessAcceptance) -> BusinessOut:
    return BusinessOut(
        business=item.business, name=item.name, uses=[USE_SLUGS[use] for use in item.uses]
    )


def _terminal_out(item: MunicipalTerminal) -> TerminalOut:
    return TerminalOut(
        address=item.address,
        kind=TERMINAL_KIND_SLUGS[item.kind],
        management=item.management,
        registered_in_block=item.registered_in_block,
    )


def _event_account_out(item: EventAccount) -> EventAccountOut:
    return EventAccountOut(
        account=item.account,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        uses=[USE_SLUGS[use] for use in item.uses],
    )


@dataclass(frozen=True)
class ProgrammeWriter:
    """A municipal staff member changing their own municipality's programme, and where to audit."""

    municipality: int
    staff: StaffAccount
    programme: ProgrammeLedger
    services: Services
    db: Session

    def audited(
        self, action: str, target: str, transaction_hash: str, **detail: str | int | bool | None
    ) -> ProgrammeTransactionOut:
        """Audit a final write (target after the municipality's code) and answer its hash."""
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
        return ProgrammeTransactionOut(transaction_hash=transaction_hash)


def programme_writer(
    municipality: WriteMunicipality,
    staff: CurrentStaff,
    programme: ProgrammeDep,
    services: ServicesDep,
    db: DbDep,
) -> ProgrammeWriter:
    """Everything a programme write needs, resolved in the order the checks ran per handler."""
    return ProgrammeWriter(municipality, staff, programme, services, db)


WriterDep = Annotated[ProgrammeWriter, Depends(programme_writer)]


# ---- settings ---------------------------------------------------------------------------------


@router.get("/programme", summary="The municipality's programme", response_model=ProgrammeOut)
def read_programme(
    municipality: ReadMunicipality, programme: ProgrammeDep, services: ServicesDep
) -> ProgrammeOut:
    """Settings, pause state, and the current fiscal year's grant budget."""
    settings = programme.settings(municipality)
    budget = programme.grant_budget(municipality, fiscal_year(services.clock.now()))
    return _programme_out(settings, budget)


@router.put(
    "/programme/settings",
    summary="Change the point settings",
    response_model=ProgrammeTransactionOut,
)
def change_settings(*, body: SettingsIn, writer: WriterDep) -> ProgrammeTransactionOut:
    """Expiry days of points and vouchers, refund window, conversions accepted; audited."""
    transaction_hash = writer.programme.set_settings(
        writer.municipality,
        validity_days=body.validity_days,
        voucher_validity_days=body.voucher_validity_days,
        refund_window_seconds=body.refund_window_seconds,
        accepts_conversions=body.accepts_conversions,
    )
    return writer.audited("programme-settings-changed", "", transaction_hash, **body.model_dump())


@router.put(
    "/programme/pause",
    summary="Pause or resume the municipality",
    response_model=ProgrammeTransactionOut,
)
def change_pause(*, body: PauseIn, writer: WriterDep) -> ProgrammeTransactionOut:
    """Emergency stop of every point movement in the municipality (or resume it); audited."""
    transaction_hash = writer.programme.set_paused(writer.municipality, body.paused)
    action = "programme-paused" if body.paused else "programme-resumed"
    return writer.audited(action, "", transaction_hash, paused=body.paused)


# ---- businesses -------------------------------------------------------------------------------


@router.get(
    "/businesses", summary="Businesses and the uses they accept", response_model=list[BusinessOut]
)
def read_businesses(municipality: ReadMunicipality, programme: ProgrammeDep) -> list[BusinessOut]:
    """Every consortium business with the uses it may accept this municipality's points for."""
    return [_business_out(item) for item in programme.businesses(municipality)]


@router.put(
    "/businesses/{business}/acceptance",
    summary="Set the uses a business accepts",
    response_model=ProgrammeTransactionOut,
)
def change_acceptance(
    *, business: Annotated[int, Path(ge=1, le=UINT64)], body: AcceptanceIn, writer: WriterDep
) -> ProgrammeTransactionOut:
    """Replace the uses `business` may accept this municipality's points for; audited."""
    uses = parse_uses(body.uses)
    transaction_hash = writer.programme.set_business_acceptance(writer.municipality, business, uses)
    return writer.audited(
        "business-acceptance-set",
        f"/business/{business}",
        transaction_hash,
        uses=",".join(USE_SLUGS[use] for use in uses),
    )


# ---- terminals --------------------------------------------------------------------------------


@router.get("/terminals", summary="The municipality's terminals", response_model=list[TerminalOut])
def read_terminals(municipality: ReadMunicipality, programme: ProgrammeDep) -> list[TerminalOut]:
    """The terminals the municipality registered and that are registered now."""
    return [_terminal_out(item) for item in programme.terminals(municipality)]


@router.post(
    "/terminals",
    status_code=201,
    summary="Register a terminal",
    response_model=ProgrammeTransactionOut,
)
def register_terminal(*, body: TerminalIn, writer: WriterDep) -> ProgrammeTransactionOut:
    """Register a granting, voucher-issue or service-ID lookup terminal by its address; audited."""
    address = parse_terminal_address(body.address)
    kind = next(k for k in MUNICIPAL_TERMINAL_KINDS if TERMINAL_KIND_SLUGS[k] == body.kind)
    transaction_hash = writer.programme.register_terminal(
        writer.municipality, address, kind, management=body.management
    )
    return writer.audited(
        "terminal-registered",
        f"/terminal/{address}",
        transaction_hash,
        kind=body.kind,
        management=body.management,
    )


@router.delete(
    "/terminals/{address}",
    summary="Deregister a terminal",
    response_model=ProgrammeTransactionOut,
)
def deregister_terminal(
    *, address: Annotated[str, Path(min_length=42, max_length=42)], writer: WriterDep
) -> ProgrammeTransactionOut:
    """Deregister one of the municipality's terminals; audited."""
    checked = parse_terminal_address(address)
    transaction_hash = writer.programme.deregister_terminal(writer.municipality, checked)
    return writer.audited("terminal-deregistered", f"/terminal/{checked}", transaction_hash)


# ---- event accounts ---------------------------------------------------------------------------


@router.get(
    "/event-accounts",
    summary="The municipality's event accounts",
    response_model=list[EventAccountOut],
)
def read_event_accounts(
    municipality: ReadMunicipality, programme: ProgrammeDep
) -> list[EventAccountOut]:
    """Every event account opened, in number order."""
    return [_event_account_out(item) for item in programme.event_accounts(municipality)]


@router.post(
    "/event-accounts",
    status_code=201,
    summary="Open an event account",
    response_model=OpenedEventAccountOut,
)
def open_event_account(*, body: EventAccountIn, writer: WriterDep) -> OpenedEventAccountOut:
    """Open an event account; the ledger refuses an end not after the start or in the past."""
    uses = parse_uses(body.uses)
    opened = writer.programme.open_event_account(
        writer.municipality, starts_at=body.starts_at, ends_at=body.ends_at, uses=uses
    )
    writer.audited(
        "event-account-opened",
        f"/event-account/{opened.account}",
        opened.transaction_hash,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        uses=",".join(USE_SLUGS[use] for use in uses),
    )
    return OpenedEventAccountOut(account=opened.account, transaction_hash=opened.transaction_hash)


# ---- grant budgets ----------------------------------------------------------------------------

FiscalYearPath = Annotated[int, Path(ge=2000, le=2999, description="Fiscal year (April-March).")]


@router.get(
    "/grant-budgets/{fiscal_year}",
    summary="A fiscal year's grant budget",
    response_model=GrantBudgetOut,
)
def read_grant_budget(
    fiscal_year: FiscalYearPath, municipality: ReadMunicipality, programme: ProgrammeDep
) -> GrantBudgetOut:
    """The cap (if any) and the points granted in the fiscal year so far."""
    return _budget_out(programme.grant_budget(municipality, fiscal_year))


@router.put(
    "/grant-budgets/{fiscal_year}",
    summary="Set a fiscal year's grant budget",
    response_model=ProgrammeTransactionOut,
)
def change_grant_budget(
    *, fiscal_year: FiscalYearPath, body: GrantBudgetIn, writer: WriterDep
) -> ProgrammeTransactionOut:
    """Cap the points granted in the fiscal year, or lift the cap; audited."""
    transaction_hash = writer.programme.set_grant_budget(
        writer.municipality, fiscal_year, capped=body.capped, cap=body.cap
    )
    return writer.audited(
        "grant-budget-set",
        f"/grant-budget/{fiscal_year}",
        transaction_hash,
        capped=body.capped,
        cap=str(body.cap),
    )
