"""Run a node in consortium mode: `mykey node run --datadir D` when D has network.toml.

Opens the ledger, starts the consortium node (QBFT driver + TLS network) and the JSON-RPC
service in one event loop, prints one line per endpoint on stdout (`JSON-RPC HTTP: …`,
`JSON-RPC WS: …`, `QBFT admin: …`, `P2P: host:port`) so scripts and tests can find the bound
ports, and serves until SIGINT or SIGTERM. Shutdown stops the admin endpoint, consensus and the
links first, then the RPC service, which closes the ledger. Errors a person can fix end as one
line on stderr and exit code 1.

Also runnable as `python -m node.consortium_cli --datadir D` (what `mykey net up` starts).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from network.datadir import NetworkSetupError
from node.config import load_config
from node.consortium import ConsortiumLedger, ConsortiumNode, ConsortiumOptions
from node.genesis import CHAIN_DIR, CONFIG_FILE, GENESIS_FILE, init_datadir
from node.ledger import open_ledger
from node.logs import configure_logging
from node.qbft_admin import (
    ADMIN_HOST,
    AdminTokenError,
    QbftAdmin,
    load_or_create_admin_token,
    start_admin,
)
from node.qbft_chain import DEFAULT_PROPOSAL_GAS_BUDGET
from node.rpc.codec import quantity
from node.rpc.methods import EthApi, Session, arity
from node.service import NodeService, service_options


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the consortium-mode node."""
    parser = argparse.ArgumentParser(
        prog="mykey node run", description="run a consortium node (datadir with network.toml)"
    )
    parser.add_argument("--datadir", type=Path, required=True)
    parser.add_argument("--http-port", type=int, help="override [rpc] http_port (0: any)")
    parser.add_argument("--ws-port", type=int, help="override [rpc] ws_port (0: any)")
    parser.add_argument(
        "--admin-port", type=int, default=0, help="admin endpoint port on 127.0.0.1 (0: any)"
    )
    parser.add_argument(
        "--proposal-gas-budget",
        type=int,
        default=DEFAULT_PROPOSAL_GAS_BUDGET,
        help="gas a proposal takes from the pool (it must execute well inside the round timer)",
    )
    add_round_timeout_cap(parser)
    parser.add_argument("--log-level", help="override [log] level (DEBUG, INFO, WARNING, ERROR)")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines, not logfmt")
    return parser


def add_round_timeout_cap(parser: argparse.ArgumentParser) -> None:
    """Add `--round-timeout-cap SECONDS`: the most a QBFT round timer may grow to."""
    parser.add_argument(
        "--round-timeout-cap",
        type=float,
        default=None,
        metavar="SECONDS",
        help="cap the doubling QBFT round timer (default: no cap, as Besu)",
    )


def round_timeout_cap_ms(seconds: float | None) -> int | None:
    """Return the cap in milliseconds; raise ValueError for a cap that is not positive."""
    if seconds is None:
        return None
    if seconds <= 0:
        raise ValueError(f"--round-timeout-cap must be positive seconds, got {seconds}")
    return round(seconds * 1000)


def register_consortium_methods(api: EthApi, node: ConsortiumNode) -> None:
    """Answer `net_peerCount` from the network and add the read-only `qbft_getRoundStatus`.

    Votes stay on the admin endpoint (node.qbft_admin); these only read.
    """

    def peer_count(params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return quantity(len(node.network.peers()))

    def round_status(params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        status = node.status()
        return {
            "head": quantity(status.head),
            "height": quantity(status.height),
            "round": quantity(status.round),
            "isValidator": status.is_validator,
            "peers": quantity(status.peers),
        }

    api.methods["net_peerCount"] = peer_count
    api.methods["qbft_getRoundStatus"] = round_status


def _configure_network_logging() -> None:
    """Send the `network` logger tree where the `node` tree goes (configure_logging set it)."""
    node_logger = logging.getLogger("node")
    network_logger = logging.getLogger("network")
    network_logger.handlers = list(node_logger.handlers)
    network_logger.setLevel(node_logger.level)
    network_logger.propagate = False


async def serve(
    datadir: Path,
    *,
    http_port: int | None,
    ws_port: int | None,
    admin_port: int = 0,
    stop: asyncio.Event | None = None,
    options: ConsortiumOptions | None = None,
) -> None:
    """Run the consortium node in `datadir` until SIGINT/SIGTERM (or `stop` is set).

    A data directory fresh from `mykey net init` gets its chain (block 0) on the first run.
    """
    if not (datadir / CHAIN_DIR).exists():
        init_datadir(datadir, datadir / GENESIS_FILE)
    token = load_or_create_admin_token(datadir)
    ledger = open_ledger(datadir)
    try:
        node = ConsortiumNode(datadir, ledger, options)
        service = NodeService(
            ConsortiumLedger(ledger, node),
            service_options(ledger.config, http_port=http_port, ws_port=ws_port),
        )
        register_consortium_methods(service.api, node)
    except BaseException:
        ledger.close()
        raise
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await service.start()
    except BaseException:
        ledger.close()
        raise
    admin_runner = None
    try:
        await node.start()
        admin_runner, bound_admin_port = await start_admin(QbftAdmin(node), token, admin_port)
        print(f"JSON-RPC HTTP: {service.http_url}", flush=True)
        print(f"JSON-RPC WS: {service.ws_url}", flush=True)
        print(f"QBFT admin: http://{ADMIN_HOST}:{bound_admin_port}", flush=True)
        print(f"P2P: {node.network.config.host}:{node.network.port}", flush=True)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if admin_runner is not None:
            await admin_runner.cleanup()
        await node.stop()
        await service.stop()


def run_consortium(
    datadir: Path,
    *,
    http_port: int | None = None,
    ws_port: int | None = None,
    admin_port: int = 0,
    log_level: str | None = None,
    log_json: bool = False,
    proposal_gas_budget: int = DEFAULT_PROPOSAL_GAS_BUDGET,
    round_timeout_cap_ms: int | None = None,
) -> int:
    """Run the consortium node in `datadir` until a signal; return the exit code."""
    try:
        configure_logging(log_level or _configured_level(datadir), json_lines=log_json)
        _configure_network_logging()
        options = ConsortiumOptions(
            proposal_gas_budget=proposal_gas_budget, round_timeout_cap_ms=round_timeout_cap_ms
        )
        asyncio.run(
            serve(
                datadir,
                http_port=http_port,
                ws_port=ws_port,
                admin_port=admin_port,
                options=options,
            )
        )
    except NetworkSetupError as error:
        print(f"mykey node run: network setup: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError, AdminTokenError) as error:
        print(f"mykey node run: {error}", file=sys.stderr)
        return 1
    return 0


def _configured_level(datadir: Path) -> str:
    """Return config.toml's [log] level, INFO when it cannot be read (open_ledger says why)."""
    try:
        return load_config(datadir / CONFIG_FILE, 1.0).log.level
    except (OSError, ValueError):
        return "INFO"


def main(argv: list[str]) -> int:
    """Run the consortium node from command-line arguments; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        cap = round_timeout_cap_ms(args.round_timeout_cap)
    except ValueError as error:
        print(f"mykey node run: {error}", file=sys.stderr)
        return 2
    return run_consortium(
        args.datadir,
        http_port=args.http_port,
        ws_port=args.ws_port,
        admin_port=args.admin_port,
        round_timeout_cap_ms=cap,
        log_level=args.log_level,
        log_json=args.log_json,
        proposal_gas_budget=args.proposal_gas_budget,
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
