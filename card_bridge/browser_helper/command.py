"""`mykey card helper --port P --allow-origin URL [--reader NAME]`: run the card helper.

Prints one line, `card helper listening on http://127.0.0.1:<port>`, once it listens (with
`--port 0` that line carries the port the system picked), then serves until SIGINT or SIGTERM.
Errors in the options become one line on stderr and exit code 2; a taken port exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable

from card_bridge.browser_helper.card_desk import CardDesk
from card_bridge.browser_helper.config import (
    DEFAULT_CARD_WAIT_SECONDS,
    DEFAULT_PORT,
    HelperConfig,
    HelperConfigError,
    normalise_origin,
)
from card_bridge.transport import ReaderService


def build_parser() -> argparse.ArgumentParser:
    """The `mykey card helper` options."""
    parser = argparse.ArgumentParser(
        prog="mykey card helper",
        description="Let the MyKey registration page in this PC's browser use the card reader.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        required=True,
        metavar="URL",
        help="the registration page's site, e.g. https://mykey.example.jp (repeatable)",
    )
    parser.add_argument("--reader", help="reader name (default: the first holding a card)")
    parser.add_argument(
        "--card-wait",
        type=float,
        default=DEFAULT_CARD_WAIT_SECONDS,
        help=f"seconds to wait for a card (default {DEFAULT_CARD_WAIT_SECONDS:g})",
    )
    return parser


def main(argv: list[str], *, readers: ReaderService | None = None) -> int:
    """Run the helper until a signal; return the exit code."""
    options = build_parser().parse_args(argv)
    try:
        config = HelperConfig(
            allowed_origins=frozenset(normalise_origin(text) for text in options.allow_origin),
            port=options.port,
            reader=options.reader,
            card_wait_seconds=options.card_wait,
        )
    except HelperConfigError as error:
        print(f"mykey card helper: {error}", file=sys.stderr)
        return 2
    if readers is None:
        from card_bridge.pcsc import PcscReaders  # noqa: PLC0415 - loads pyscard only when used

        readers = PcscReaders()
    desk = CardDesk(readers, reader=config.reader, card_wait=config.card_wait_seconds)
    try:
        asyncio.run(_run(config, desk))
    except OSError as error:
        print(f"mykey card helper: cannot listen on port {config.port}: {error}", file=sys.stderr)
        return 1
    return 0


async def _run(config: HelperConfig, desk: CardDesk) -> None:
    from card_bridge.browser_helper.server import serve  # noqa: PLC0415 - aiohttp when serving

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    await serve(config, desk, announce=_announcer(config), stop=stop)


def _announcer(config: HelperConfig) -> Callable[[str], None]:
    def announce(url: str) -> None:
        origins = ", ".join(sorted(config.allowed_origins))
        print(f"card helper listening on {url}", flush=True)
        print(f"answering pages from: {origins}", flush=True)

    return announce
