"""`mykey counter init | check | text | web`: configure and run the counter terminal program.

`init` writes the TOML config and a new encrypted terminal key, and prints the address the
business registers on-chain; `check` asks the API how the terminal is registered; `text` runs
the text interface (works over SSH); `web` serves the tablet page on 127.0.0.1.

Invariants: passphrases come from `MYKEY_TERMINAL_PASSPHRASE` or a hidden prompt and are never
written; an error becomes one line on stderr and exit code 1, never a stack trace.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from card_bridge.counter.config import (
    PASSPHRASE_ENVIRONMENT,
    ConfigError,
    CounterConfig,
    DeliveryMode,
    create_keystore,
    load_config,
    unlock_keystore,
    write_config,
)
from card_bridge.counter.http_api import HttpCounterApi
from card_bridge.counter.keyboard import XdotoolKeyboard
from card_bridge.counter.ports import TerminalInfo, TerminalKind
from card_bridge.counter.refusals import ApiRefusal, ApiUnavailable, CounterError
from card_bridge.counter.session import CounterSession
from card_bridge.counter.text_ui import TextUi
from card_bridge.counter.web import CounterWebPage, RunningPage
from card_bridge.transport import ReaderService

DEFAULT_CONFIG = Path("counter.toml")
KEYSTORE_NAME = "terminal-key.json"
DEFAULT_WEB_PORT = 8765


def build_parser() -> argparse.ArgumentParser:
    """The `mykey counter` options."""
    parser = argparse.ArgumentParser(prog="mykey counter", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="write the config and a new terminal key")
    init.add_argument(
        "--api-url", required=True, help="the platform API, e.g. http://127.0.0.1:8000"
    )
    init.add_argument("--business", required=True, help="the business this terminal belongs to")
    init.add_argument(
        "--kind",
        action="append",
        required=True,
        choices=[kind.value for kind in TerminalKind],
        help="what the terminal does (repeat for several)",
    )
    init.add_argument("--service-code", default="", help="the service whose IDs it looks up")
    init.add_argument(
        "--delivery",
        default=DeliveryMode.SCREEN.value,
        choices=[mode.value for mode in DeliveryMode],
        help="how a looked-up service ID is delivered (A screen, B barcode, C keyboard, D label)",
    )
    init.add_argument("--reader", default=None, help="card reader name (default: the first)")
    init.add_argument("--label-width-mm", type=float, default=62.0)
    for command in (init, *(commands.add_parser(name) for name in ("check", "text", "web"))):
        command.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    commands.choices["web"].add_argument("--port", type=int, default=DEFAULT_WEB_PORT)
    return parser


def main(
    argv: list[str],
    *,
    readers: ReaderService | None = None,
    read_secret: Callable[[str], str] = getpass.getpass,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run `mykey counter ...`; return the exit code (0 ok, 1 failed, 2 usage)."""
    options = build_parser().parse_args(argv)
    out = stdout or sys.stdout
    try:
        if options.command == "init":
            return _init(options, read_secret, out)
        config = load_config(options.config)
        account = unlock_keystore(config.keystore, _passphrase(read_secret, confirm=False))
        api = HttpCounterApi(config.api_url, account)
        try:
            info = api.describe_terminal()
            _report_registration(info, config, out)
            if options.command == "check":
                return 0
            session = _session(config, api, account.address, readers)
            if options.command == "text":
                return TextUi(
                    session, info.kinds, stdin=stdin or sys.stdin, stdout=out, read_pin=read_secret
                ).run()
            return _web(
                session,
                info,
                config=config,
                port=options.port,
                out=out,
                stop=stop or threading.Event(),
            )
        finally:
            api.close()
    except (ApiRefusal, ApiUnavailable) as error:
        print(f"mykey counter: {error.message()}", file=sys.stderr)
        return 1
    except CounterError as error:
        print(f"mykey counter: {error}", file=sys.stderr)
        return 1


def _init(options: argparse.Namespace, read_secret: Callable[[str], str], out: TextIO) -> int:
    config_path: Path = options.config
    if config_path.exists():
        raise ConfigError(f"{config_path} already exists: edit it, or choose another --config")
    keystore = config_path.parent / KEYSTORE_NAME
    kinds = tuple(TerminalKind(kind) for kind in dict.fromkeys(options.kind))
    if TerminalKind.SERVICE_ID_LOOKUP in kinds and not options.service_code:
        raise ConfigError("a service-ID lookup terminal needs --service-code")
    address = create_keystore(keystore, _passphrase(read_secret, confirm=True))
    config = CounterConfig(
        api_url=options.api_url,
        business=options.business,
        kinds=kinds,
        service_code=options.service_code,
        delivery=DeliveryMode(options.delivery),
        keystore=keystore,
        reader=options.reader,
        label_directory=config_path.parent / "labels",
        label_width_mm=options.label_width_mm,
    )
    write_config(config_path, config)
    print(f"config: {config_path}", file=out)
    print(f"terminal key: {keystore} (encrypted)", file=out)
    print(f"terminal address: {address}", file=out)
    print(
        f"next: the business {options.business!r} registers this address as a terminal of kind "
        f"{', '.join(kind.value for kind in kinds)}; then run `mykey counter check`",
        file=out,
    )
    return 0


def _passphrase(read_secret: Callable[[str], str], *, confirm: bool) -> str:
    from_environment = os.environ.get(PASSPHRASE_ENVIRONMENT)
    if from_environment:
        return from_environment
    first = read_secret("terminal key passphrase: ")
    if confirm and read_secret("the same passphrase again: ") != first:
        raise ConfigError("the two passphrases differ: nothing was written")
    return first


def _report_registration(info: TerminalInfo, config: CounterConfig, out: TextIO) -> None:
    print(f"terminal {info.address}: business {info.business}", file=out)
    print(f"registered kinds: {', '.join(kind.value for kind in info.kinds)}", file=out)
    if info.business != config.business:
        raise ConfigError(
            f"the config says business {config.business!r} but the terminal is registered to "
            f"{info.business!r}: correct the config or the registration"
        )
    missing = [kind.value for kind in config.kinds if kind not in info.kinds]
    if missing:
        print(f"not registered for: {', '.join(missing)} (those menus are hidden)", file=out)


def _session(
    config: CounterConfig, api: HttpCounterApi, address: str, readers: ReaderService | None
) -> CounterSession:
    if readers is None:
        from card_bridge.pcsc import PcscReaders  # noqa: PLC0415 - loads pyscard only when used

        readers = PcscReaders()
    return CounterSession(
        api=api,
        readers=readers,
        terminal_address=address,
        business=config.business,
        service_code=config.service_code,
        delivery=config.delivery,
        reader=config.reader,
        card_timeout_seconds=config.card_timeout_seconds,
        # always: the tablet page may choose keyboard delivery for one lookup; a missing
        # xdotool or display is reported when typing is tried, as a refusal in words
        keyboard=XdotoolKeyboard(),
        label_directory=config.label_directory,
        label_width_mm=config.label_width_mm,
        sign_transactions=config.sign_transactions,
        clock=lambda: datetime.now(UTC),
    )


def _web(
    session: CounterSession,
    info: TerminalInfo,
    *,
    config: CounterConfig,
    port: int,
    out: TextIO,
    stop: threading.Event,
) -> int:
    page = RunningPage(
        CounterWebPage(session, info.kinds, label_directory=config.label_directory), port=port
    )
    bound = page.start()
    print(f"counter page: http://127.0.0.1:{bound}/ (Ctrl-C to stop)", file=out, flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        page.stop()
    return 0
