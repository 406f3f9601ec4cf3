"""`create_app(settings, ...)`: builds the whole API (store, services, routers, error handling).

Nothing happens at import time: the store is opened and migrated, the service-ID key loaded, and
the routers mounted only when `create_app` is called, so tests build as many independent apps
as they like. The ledger and the card checks come in as ports (`api.ports`); without them the
app still serves everything that needs neither, and answers 503 problems for the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.clock import Clock, SystemClock
from api.limits import BodySizeLimit
from api.passwords import PasswordService
from api.ports import (
    CardVerifier,
    MykeyIdLedger,
    PointsLedger,
    UnavailableCardVerifier,
    UnavailableLedger,
    UnavailablePointsLedger,
)
from api.problems import install_problem_handlers
from api.routes import (
    audit_records,
    grants,
    me,
    municipalities,
    operator,
    registrations,
    sessions,
    staff_accounts,
    staff_sessions,
)
from api.service_id_cipher import ServiceIdCipher, load_or_create_key
from api.services.container import Services
from api.services.lockout import LockoutPolicy
from api.services.registration import CandidateSource, random_candidate
from api.settings import ApiSettings
from api.store.database import open_store

API_VERSION = "0.1.0"
DESCRIPTION = """\
The MyKey platform and municipal point cloud API.

Residents register a MyKey ID with their My Number Card (deck screen 16) and log in to My Page;
staff and operators log in with roles, and every write they make is audited. Every error is an
RFC 9457 problem (`application/problem+json`), Japanese first (`Accept-Language: en` for English).
"""


def create_app(
    settings: ApiSettings,
    *,
    ledger: MykeyIdLedger | None = None,
    points: PointsLedger | None = None,
    cards: CardVerifier | None = None,
    clock: Clock | None = None,
    generate_candidate: CandidateSource | None = None,
) -> FastAPI:
    """Return a ready FastAPI app for `settings`; the store is migrated before it returns."""
    store = open_store(settings.database_url)
    services = Services(
        settings=settings,
        store=store,
        clock=clock or SystemClock(),
        passwords=PasswordService(settings.password_hashing),
        lockout=LockoutPolicy(settings.lockout_threshold, settings.lockout_seconds),
        ledger=ledger or UnavailableLedger(),
        points=points or UnavailablePointsLedger(),
        cards=cards or UnavailableCardVerifier(),
        cipher=ServiceIdCipher(load_or_create_key(settings.service_id_key_file)),
        generate_candidate=generate_candidate or random_candidate,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="MyKey Ledger API",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    install_problem_handlers(app)
    for module in (
        registrations,
        sessions,
        me,
        municipalities,
        staff_sessions,
        staff_accounts,
        audit_records,
        grants,
        operator,
    ):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes)
    return app
