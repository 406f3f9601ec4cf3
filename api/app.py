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

from api.chain.nonces import nonces_for
from api.chain.side import ChainSide
from api.clock import Clock, SystemClock
from api.indexer.follower import ChainIndexer, IndexerThread
from api.keepers.runner import keeper_thread_for
from api.limits import BodySizeLimit
from api.notices.chain_notices import ChainNoticeHook
from api.pages import PagesSettings, mount_pages
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
    balances,
    chain_health,
    conversions,
    coupons,
    grants,
    keepers,
    me,
    municipalities,
    operator,
    partner_links,
    programme,
    rebinding,
    registrations,
    service_ids,
    sessions,
    staff_accounts,
    staff_sessions,
    terminal_grants,
    terminals,
    treasurers,
)
from api.service_id_cipher import ServiceIdCipher, load_or_create_key
from api.services.container import Services
from api.services.lockout import LockoutPolicy
from api.services.partner_links import derive_lookup_hash_key
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
    chain: ChainSide | None = None,
    pages: PagesSettings | None = None,
) -> FastAPI:
    """Return a ready FastAPI app for `settings`; the store is migrated before it returns.

    With `chain` (api.chain.side.build_chain_side) the ledger ports default to its web3
    adapters, the terminal endpoints work and the indexer follows the ledger while the app runs
    (unless `settings.follow_chain` is off).
    """
    store = open_store(settings.database_url)
    service_id_key = load_or_create_key(settings.service_id_key_file)
    if chain is not None:
        ledger = ledger or chain.ledger
        points = points or chain.ledger
    services = Services(
        settings=settings,
        store=store,
        clock=clock or SystemClock(),
        passwords=PasswordService(settings.password_hashing),
        lockout=LockoutPolicy(settings.lockout_threshold, settings.lockout_seconds),
        ledger=ledger or UnavailableLedger(),
        points=points or UnavailablePointsLedger(),
        cards=cards or UnavailableCardVerifier(),
        cipher=ServiceIdCipher(service_id_key),
        generate_candidate=generate_candidate or random_candidate,
        lookup_hash_key=derive_lookup_hash_key(service_id_key),
    )

    indexer = (
        None
        if chain is None
        else ChainIndexer(
            chain.w3,
            chain.config.deployment,
            store,
            now=services.clock.now,
            # Residents' chosen e-mail notices, queued in the same transaction as the events.
            after_store=ChainNoticeHook(mail_domain=services.mail_domain, now=services.clock.now),
        )
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if chain is not None:
            # Nonces shared through the store (PostgreSQL): other processes may hold the keys.
            chain.ledger.sender.use_nonces(nonces_for(store, now=services.clock.now))
        follower = None
        if indexer is not None and settings.follow_chain:
            # One follower across the processes on this store: the `indexer` lease decides.
            follower = IndexerThread(
                indexer, interval=settings.indexer_interval_seconds, lease_store=store
            )
            follower.start()
        _app.state.indexer_thread = follower
        keeper_thread = None
        if chain is not None and settings.run_keepers:
            keeper_thread = keeper_thread_for(
                chain,
                store,
                services.clock,
                indexer=indexer,
                interval=settings.keeper_interval_seconds,
            )
            keeper_thread.start()
        _app.state.keeper_thread = keeper_thread
        yield
        if keeper_thread is not None:
            keeper_thread.stop()
        if follower is not None:
            follower.stop()
        store.close()

    app = FastAPI(
        title="MyKey Ledger API",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.chain = chain
    app.state.indexer = indexer
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
        terminals,
        terminal_grants,
        conversions,
        treasurers,
        service_ids,
        chain_health,
        balances,
        programme,
        coupons,
        partner_links,
        rebinding,
        keepers,
    ):
        app.include_router(module.router)
    if pages is not None:
        # the browser pages (api/pages): My Page, staff console, explorer, and /static
        mount_pages(app, pages)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes)
    return app
