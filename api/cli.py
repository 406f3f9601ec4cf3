"""`mykey api ...`: serve the API, migrate the store, make a staff account, send notices.

    mykey api serve --data-dir DIR [--host 127.0.0.1] [--port 8080]
    mykey api migrate --data-dir DIR
    mykey api create-staff --data-dir DIR --login-name NAME --role ROLE --password-file FILE
    mykey api send-notices --data-dir DIR [--once] [--poll-seconds 1.0]
    mykey api keep --data-dir DIR [--once] [--interval 60]

Settings come from the data directory and `MYKEY_API_*` variables (see `api.settings`);
`--smtp-host/--smtp-port` override the mail server. Every failure ends with one line on stderr
and a non-zero exit code, never a stack trace.

`serve` wires what the settings name, and refuses at start (exit 2, one line naming the variable
or file) rather than answering 503 later: the chain side (MYKEY_API_CHAIN_CONFIG with
MYKEY_API_KEYSTORE_DIR and MYKEY_API_KEYSTORE_PASSWORD_FILE; the node must answer with the
deployment's chain ID) and the JPKI card checks (MYKEY_API_JPKI_TRUST_ANCHORS with
MYKEY_API_JPKI_CRLS, re-read when a file changes). A chain needs the card checks. With neither it
serves what needs no chain and says so in one log line. With a chain it also serves the browser
pages (My Page, staff console, explorer; MYKEY_API_PAGES=off for the JSON API only), never with
the virtual card; their cookies are `Secure` unless MYKEY_API_SECURE_COOKIES=off. Behind a reverse
proxy, MYKEY_API_PUBLIC_ORIGIN names the origin browsers use. MYKEY_API_RUN_KEEPERS=on runs the
keepers in this process (`mykey api keep` as its own process is preferred). Once listening it
prints `API: http://HOST:PORT` on stdout (`--port 0` picks a free port).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from api.app import create_app
from api.chain.config import ChainConfigError
from api.chain.keys import KeystoreError
from api.chain.side import ChainSide, ChainSideError, chain_side_from_settings
from api.clock import SystemClock
from api.errors import ApiError
from api.jpki_trust import ReloadingJpkiVerifier, TrustFileError, trust_files
from api.keepers.command import run_keepers_command
from api.notices.sender import OutboxSender, SmtpTarget
from api.pages.from_settings import PagesWithoutChain, PublicOrigin, served_pages
from api.pages.settings import PagesSettings
from api.passwords import PasswordService
from api.services.audit import SYSTEM_ACTOR
from api.services.staff import StaffRole, create_staff_account
from api.settings import ApiSettings, SettingsError, read_secret
from api.store.database import open_store
from api.store.migrations import MigrationError, migrate


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mykey api", description="Run the MyKey Ledger API.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--data-dir", type=Path, required=True, help="the API's data directory")
        sub.add_argument("--smtp-host", help="mail server host (default from settings)")
        sub.add_argument("--smtp-port", type=int, help="mail server port")
        return sub

    serve = command("serve", "serve the API over HTTP on loopback")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0: any free port")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="info logs every request; warning only problems",
    )
    command("migrate", "bring the private store's schema up to date")
    staff = command("create-staff", "create a staff account (the first administrator, say)")
    staff.add_argument("--login-name", required=True)
    staff.add_argument("--role", required=True, choices=[role.value for role in StaffRole])
    staff.add_argument("--organisation")
    staff.add_argument("--password-file", type=Path, required=True, help="file holding it (0600)")
    sender = command("send-notices", "send queued notice e-mails over SMTP")
    sender.add_argument("--once", action="store_true", help="one pass, then exit")
    sender.add_argument("--poll-seconds", type=float, default=1.0)
    keep = command("keep", "sweep due reserves and expired points on the configured chain")
    keep.add_argument("--once", action="store_true", help="one pass, then exit")
    keep.add_argument("--interval", type=float, default=60.0, help="seconds between passes")
    return parser


def _settings(arguments: argparse.Namespace) -> ApiSettings:
    settings = ApiSettings.from_environment(arguments.data_dir)
    if arguments.smtp_host:
        settings = dataclasses.replace(settings, smtp_host=arguments.smtp_host)
    if arguments.smtp_port:
        settings = dataclasses.replace(settings, smtp_port=arguments.smtp_port)
    return settings


READY_PREFIX = "API: "
"""What `serve` prints on stdout once it listens, followed by its base URL."""
START_REFUSED = 2
"""Exit code of a `serve` that refuses its configuration at start."""
_log = logging.getLogger("mykey.api")


class StartRefused(Exception):
    """`serve` cannot start with this configuration; the message says what to set."""


def serving_parts(
    settings: ApiSettings, clock: SystemClock
) -> tuple[ChainSide | None, ReloadingJpkiVerifier | None]:
    """Return the chain side and card verifier the settings name (either may be None).

    Raises StartRefused for a half configuration, an unreadable file, or a node that is
    unreachable or on another chain than the deployment.
    """
    try:
        files = trust_files(settings.jpki_trust_anchors_file, settings.jpki_crl_files)
        cards = None if files is None else ReloadingJpkiVerifier(files)
        if settings.chain_config_file is not None and cards is None:
            raise StartRefused(
                "MYKEY_API_CHAIN_CONFIG is set but MYKEY_API_JPKI_TRUST_ANCHORS and "
                "MYKEY_API_JPKI_CRLS are not: redemptions and registrations need card checks"
            )
        chain = chain_side_from_settings(settings, clock)
    except (
        SettingsError,
        TrustFileError,
        ChainConfigError,
        KeystoreError,
        ChainSideError,
    ) as error:
        raise StartRefused(str(error)) from None
    return chain, cards


def _serve(settings: ApiSettings, host: str, port: int, log_level: str) -> int:
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(message)s")
    clock = SystemClock()
    try:
        chain, cards = serving_parts(settings, clock)
        pages = served_pages(settings, chain)
        if chain is None and settings.run_keepers:
            raise StartRefused(
                "MYKEY_API_RUN_KEEPERS is on but MYKEY_API_CHAIN_CONFIG is not set: the keepers "
                "sweep the ledger (set the chain config, or MYKEY_API_RUN_KEEPERS=off)"
            )
    except (StartRefused, PagesWithoutChain) as error:
        print(f"mykey api serve: {error}", file=sys.stderr)
        return START_REFUSED
    _log_what_is_served(settings, chain, cards, pages)
    app = create_app(settings, cards=cards, clock=clock, chain=chain, pages=pages)
    served: ASGIApp = (
        app if settings.public_origin is None else PublicOrigin(app, settings.public_origin)
    )
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        print(
            f"mykey api serve: cannot listen on {host}:{port} ({error.strerror})", file=sys.stderr
        )
        return START_REFUSED
    listener.listen(128)  # connections wait in the backlog until uvicorn accepts them
    print(f"{READY_PREFIX}http://{host}:{listener.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(served, log_level=log_level))
    server.run(sockets=[listener])
    return 0


def _log_what_is_served(
    settings: ApiSettings,
    chain: ChainSide | None,
    cards: ReloadingJpkiVerifier | None,
    pages: PagesSettings | None,
) -> None:
    """Log one line each: the ledger, the pages, the keepers, plain-HTTP cookies."""
    if chain is None:
        _log.warning(
            "no MYKEY_API_CHAIN_CONFIG: serving without a ledger (terminal, treasurer and "
            "conversion endpoints answer 503)%s",
            "" if cards else "; no MYKEY_API_JPKI_TRUST_ANCHORS: card checks answer 503",
        )
    else:
        _log.info(
            "ledger %s, chain ID %s checked", chain.config.rpc_url, chain.config.deployment.chain_id
        )
    if pages is None:
        _log.info(
            "pages off (%s): serving the JSON API only",
            "no MYKEY_API_CHAIN_CONFIG" if chain is None else "MYKEY_API_PAGES=off",
        )
    else:
        _log.info(
            "pages on: /my, /staff, /explorer; card helper expected at %s; origin %s",
            pages.card_helper_url,
            settings.public_origin or "taken from each request",
        )
        if not pages.secure_cookies:
            _log.warning(
                "MYKEY_API_SECURE_COOKIES=off: session cookies also travel over plain HTTP; "
                "use this only for testing without TLS"
            )
    if chain is not None:
        _log.info(
            "keepers %s",
            f"run in this process every {settings.keeper_interval_seconds:g} s"
            if settings.run_keepers
            else "off here (run `mykey api keep`, or MYKEY_API_RUN_KEEPERS=on)",
        )


def _migrate(settings: ApiSettings) -> int:
    store = open_store(settings.database_url, run_migrations=False)
    try:
        applied = migrate(store.engine)
    finally:
        store.close()
    print(f"applied migrations {applied}" if applied else "schema already up to date")
    return 0


def _create_staff(settings: ApiSettings, arguments: argparse.Namespace) -> int:
    password = read_secret(arguments.password_file).decode("utf-8").rstrip("\n")
    store = open_store(settings.database_url)
    try:
        with store.sessions() as db:
            staff = create_staff_account(
                db=db,
                passwords=PasswordService(settings.password_hashing),
                actor=SYSTEM_ACTOR,
                login_name=arguments.login_name,
                password=password,
                role=arguments.role,
                organisation=arguments.organisation,
                now=SystemClock().now(),
            )
            print(f"created staff account {staff.login_name} ({staff.role}), id {staff.id}")
    finally:
        store.close()
    return 0


def _send_notices(settings: ApiSettings, once: bool, poll_seconds: float) -> int:
    store = open_store(settings.database_url)
    sender = OutboxSender(
        sessions=store.sessions,
        target=SmtpTarget(
            host=settings.smtp_host,
            port=settings.smtp_port,
            mail_from=settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password(),
        ),
        clock=SystemClock(),
        owner=f"{socket.gethostname()}:{os.getpid()}",
        lease_seconds=settings.outbox_lease_seconds,
        max_attempts=settings.outbox_max_attempts,
    )
    try:
        if once:
            report = sender.run_once()
            print(
                f"claimed {report.claimed} sent {report.sent} "
                f"retrying {report.retrying} failed {report.failed}"
            )
            return 0
        stop = threading.Event()

        def request_stop(_signal: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        print("sending notices; stop with SIGTERM", flush=True)
        sender.run_forever(stop, poll_seconds=poll_seconds)
        return 0
    finally:
        store.close()


def main(argv: Sequence[str]) -> int:
    """Run `mykey api <command>`; return the exit code."""
    arguments = _parser().parse_args(list(argv))
    try:
        settings = _settings(arguments)
        if arguments.command == "serve":
            return _serve(settings, arguments.host, arguments.port, arguments.log_level)
        if arguments.command == "migrate":
            return _migrate(settings)
        if arguments.command == "create-staff":
            return _create_staff(settings, arguments)
        return (
            run_keepers_command(settings, once=arguments.once, interval=arguments.interval)
            if arguments.command == "keep"
            else _send_notices(settings, arguments.once, arguments.poll_seconds)
        )
    except (SettingsError, MigrationError) as error:
        print(f"mykey api: {error}", file=sys.stderr)
        return START_REFUSED if arguments.command == "serve" else 1
    except ApiError as error:
        details = "; ".join(
            f"{item.field}: {item.message.en}" for item in getattr(error, "errors", [])
        )
        print(f"mykey api: {error.message.en} {details}".rstrip(), file=sys.stderr)
        return 1
