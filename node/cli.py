"""`mykey node …`: initialise a data directory and run a ledger node.

`mykey node init --datadir D --genesis G` validates the genesis, writes genesis.json, a default
config.toml and a node key (mode 0600), and stores block 0. `mykey node run --datadir D` opens
the ledger and serves until SIGINT/SIGTERM; on a data directory from `mykey net init` (with
network.toml) it runs in consortium mode instead (node.consortium_cli). Errors a person can fix
(bad genesis, bad config, missing key, port in use) end as one line on stderr and exit code 1,
never a stack trace.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from node.consortium import is_consortium_datadir
from node.consortium_cli import add_round_timeout_cap, round_timeout_cap_ms, run_consortium
from node.genesis import GenesisError, init_datadir, load_node_key, node_address
from node.ledger import open_ledger
from node.logs import configure_logging
from node.service import NodeService, serve_until_signal, service_options

USAGE_EXIT = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the `mykey node` argument parser."""
    parser = argparse.ArgumentParser(prog="mykey node", description="initialise and run a node")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create a data directory from a genesis file")
    init.add_argument("--datadir", type=Path, required=True)
    init.add_argument("--genesis", type=Path, required=True)
    run = commands.add_parser("run", help="run the node on an initialised data directory")
    run.add_argument("--datadir", type=Path, required=True)
    run.add_argument("--http-port", type=int, help="override [rpc] http_port (0: any free port)")
    run.add_argument("--ws-port", type=int, help="override [rpc] ws_port (0: any free port)")
    run.add_argument("--block-period", type=float, help="override [chain] block_period_seconds")
    run.add_argument(
        "--admin-port", type=int, default=0, help="consortium: admin endpoint port (0: any)"
    )
    add_round_timeout_cap(run)
    run.add_argument("--log-level", help="override [log] level (DEBUG, INFO, WARNING, ERROR)")
    run.add_argument("--log-json", action="store_true", help="log JSON lines instead of logfmt")
    return parser


def init_command(datadir: Path, genesis: Path) -> int:
    """Initialise `datadir`; print the validator address."""
    try:
        init_datadir(datadir, genesis)
    except (GenesisError, FileExistsError, OSError, ValueError) as error:
        print(f"mykey node init: {error}", file=sys.stderr)
        return 1
    address = node_address(load_node_key(datadir))
    print(f"initialised {datadir}")
    print(f"node (validator) address: 0x{address.hex()}")
    return 0


def run_consortium_command(args: argparse.Namespace) -> int:
    """Run a `mykey net init` data directory in consortium mode; return the exit code."""
    if args.block_period is not None:
        print(
            "mykey node run: --block-period does not apply to a consortium node; "
            "the genesis blockperiodseconds is agreed by all validators",
            file=sys.stderr,
        )
        return 1
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
    )


def run_command(args: argparse.Namespace) -> int:
    """Open the ledger in `args.datadir` and serve until a signal.

    A data directory from `mykey net init` (it has network.toml) runs in consortium mode: QBFT
    with the other nodes over TLS decides the blocks (node.consortium_cli).
    """
    if is_consortium_datadir(args.datadir):
        return run_consortium_command(args)
    try:
        ledger = open_ledger(args.datadir)
    except (OSError, ValueError) as error:
        print(f"mykey node run: {error}", file=sys.stderr)
        return 1
    try:
        configure_logging(args.log_level or ledger.config.log.level, json_lines=args.log_json)
        options = service_options(
            ledger.config,
            http_port=args.http_port,
            ws_port=args.ws_port,
            block_period=args.block_period,
        )
        service = NodeService(ledger, options)
    except ValueError as error:
        ledger.close()
        print(f"mykey node run: {error}", file=sys.stderr)
        return 1

    def ready() -> None:
        # Printed on stdout, one line each, so scripts and tests can find the bound ports.
        print(f"JSON-RPC HTTP: {service.http_url}", flush=True)
        print(f"JSON-RPC WS: {service.ws_url}", flush=True)

    try:
        asyncio.run(serve_until_signal(service, ready))
    except OSError as error:
        ledger.close()
        print(f"mykey node run: cannot listen: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    """Run `mykey node <init|run> ...`; return the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) if isinstance(exit_.code, int) else USAGE_EXIT
    if args.command == "init":
        return init_command(args.datadir, args.genesis)
    return run_command(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
