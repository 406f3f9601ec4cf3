"""The API and pages as `mykey dev` runs them: demo chain keys, a test JPKI authority, demo staff.

Everything here is for development on one machine and uses THROWAWAY TEST material only: the
demo consortium's public keys (contracts.demo.demo_key), a test JPKI authority made at start-up
(so the pages' virtual card can stand in for a My Number Card), and demo staff accounts with
printed passwords. None of it may face a real network.

Layout under the dev data dir: `api-chain/` (chain.json, encrypted keystores and their password
file, written once when the demo is deployed) and `api/` (the private store and its keys). On a
later start the chain config is re-pointed at the node's current JSON-RPC URL.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from sqlalchemy import select

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.chain.config import ChainConfig
from api.chain.demo import write_demo_chain
from api.chain.side import chain_side_from_settings
from api.clock import SystemClock
from api.pages.settings import PagesSettings
from api.pages.virtual_card import FreshVirtualCards
from api.passwords import PasswordService
from api.services.audit import SYSTEM_ACTOR
from api.services.staff import StaffRole, create_staff_account
from api.settings import ApiSettings
from api.store.database import open_store
from api.store.models import StaffAccount
from card_bridge.platform_checks.certificates import TrustConfiguration
from card_bridge.virtual_card.issuance import TestAuthority
from contracts.demo import DemoConsortium

CHAIN_DIR = "api-chain"
STORE_DIR = "api"
DEV_API_PORT = 8000

DEMO_STAFF_PASSWORD = "demo-staff-pass"  # noqa: S105 - a printed throwaway for the dev stack
"""The password of every demo staff account: public, for `mykey dev` only."""

DEMO_STAFF: tuple[tuple[str, StaffRole, str | None], ...] = (
    ("kawasaki.staff", StaffRole.MUNICIPAL_STAFF, "14130"),
    ("kawasaki.treasurer", StaffRole.TREASURER, "14130"),
    ("toshima.staff", StaffRole.MUNICIPAL_STAFF, "13116"),
    ("toshima.treasurer", StaffRole.TREASURER, "13116"),
    ("operator", StaffRole.NODE_OPERATOR, None),
)


class DevApiError(RuntimeError):
    """The dev API could not be prepared or started; the message says what to do."""


def prepare_chain_files(datadir: Path, rpc_url: str, demo: DemoConsortium | None) -> Path:
    """Write (with `demo`) or re-point (without) the API's chain config; return its folder.

    Raises DevApiError when there is no demo chain config to reuse.
    """
    directory = datadir / CHAIN_DIR
    if demo is not None:
        write_demo_chain(directory, rpc_url, demo)
        return directory
    config_file = directory / "chain.json"
    if not config_file.exists():
        raise DevApiError(f"{config_file} is missing: start with a new --datadir to redeploy")
    raw = ChainConfig.load(config_file).to_json()
    raw["rpc_url"] = rpc_url
    config_file.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    return directory


def dev_settings(datadir: Path, chain_dir: Path) -> ApiSettings:
    """Return the API settings for the dev stack (store under `datadir/api`)."""
    return ApiSettings.for_data_dir(
        datadir / STORE_DIR,
        chain_config_file=chain_dir / "chain.json",
        keystore_dir=chain_dir / "keystore",
        keystore_password_file=chain_dir / "keystore-password",
        mail_from="noreply@mykey.dev.invalid",
        run_keepers=True,  # reserves going home and expired points recorded every minute
    )


def ensure_demo_staff(settings: ApiSettings) -> None:
    """Create the demo staff accounts that do not exist yet."""
    store = open_store(settings.database_url)
    passwords = PasswordService(settings.password_hashing)
    try:
        for login_name, role, organisation in DEMO_STAFF:
            with store.sessions() as db:
                taken = db.scalar(select(StaffAccount).where(StaffAccount.login_name == login_name))
                if taken is not None:
                    continue
                create_staff_account(
                    db=db,
                    passwords=passwords,
                    actor=SYSTEM_ACTOR,
                    login_name=login_name,
                    password=DEMO_STAFF_PASSWORD,
                    role=role,
                    organisation=organisation,
                    now=SystemClock().now(),
                )
    finally:
        store.close()


@dataclass
class DevApi:
    """The API and pages served by uvicorn in a background thread."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        """Ask uvicorn to finish and wait for it; idempotent."""
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_dev_api(
    datadir: Path, rpc_url: str, demo: DemoConsortium | None, *, port: int = DEV_API_PORT
) -> DevApi:
    """Prepare the chain files and the store, then serve the API and pages on 127.0.0.1:`port`.

    Returns once the server listens. Raises DevApiError when it cannot.
    """
    chain_dir = prepare_chain_files(datadir, rpc_url, demo)
    settings = dev_settings(datadir, chain_dir)
    ensure_demo_staff(settings)
    clock = SystemClock()
    now = datetime.now(UTC)
    authority = TestAuthority.create(now)
    trust = TrustConfiguration(
        anchors=(authority.certificate,), revocation_lists=(authority.revocation_list(now),)
    )
    side = chain_side_from_settings(settings, clock)
    if side is None:
        raise DevApiError("the API found no chain config; this is a bug in the dev wiring")
    pages = PagesSettings(
        rpc_url=rpc_url,
        deployment=side.config.deployment,
        virtual_card=FreshVirtualCards(authority),
        secure_cookies=False,
    )
    app = create_app(settings, cards=JpkiCardVerifier(trust), clock=clock, chain=side, pages=pages)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dev-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive():
            raise DevApiError(f"the API could not listen on 127.0.0.1:{port}; try --api-port")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise DevApiError("the API did not start within 30 s")
        time.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return DevApi(server, thread, f"http://127.0.0.1:{bound}")
