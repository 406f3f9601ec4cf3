"""`mykey dev`: a throwaway one-validator ledger with funded dev accounts, in one command.

The dev validator key and the dev accounts are derived from the well-known test mnemonic
"test test … junk" (the accounts at m/44'/60'/0'/0/i, exactly Hardhat's and Anvil's), so every
tool that knows those accounts works unchanged. These keys are public knowledge: they are
printed as throwaway test keys and must never hold anything of value. The validator key sits on
another path (m/44'/60'/1'/0/0) so no dev account ever signs blocks.

A dev node serves the dev clock methods (evm_increaseTime, evm_setNextBlockTimestamp, evm_mine;
see node.devclock); a block period under 1 s puts Besu's xblockperiodmilliseconds in the genesis.
`start_embedded` runs the same node in a background thread of the calling process; tests and
later dev-mode parts (contracts, API) build on it. Its signature is kept stable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from eth_account import Account

from node.extradata import ExtraData, encode_extra_data
from node.genesis import CHAIN_DIR, MIN_BLOCK_PERIOD_MS, create_node_key, init_datadir, node_address
from node.ledger import open_ledger
from node.logs import configure_logging
from node.service import (
    BackgroundNode,
    NodeService,
    serve_until_signal,
    service_options,
)

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""The public test mnemonic of Hardhat and Anvil. Keys from it are throwaway test keys."""

DEV_ACCOUNT_COUNT = 10
DEV_ACCOUNT_PATH = "m/44'/60'/0'/0/{index}"
DEV_VALIDATOR_PATH = "m/44'/60'/1'/0/0"
DEV_CHAIN_ID = 1337
DEV_BALANCE_WEI = 10_000 * 10**18
DEV_GAS_LIMIT = 30_000_000
DEV_HTTP_PORT = 8545
DEV_WS_PORT = 8546


@dataclass(frozen=True)
class DevAccount:
    """A funded dev account: checksummed address and its (public, throwaway) private key."""

    address: str
    private_key: str


def derive_dev_key(path: str) -> bytes:
    """Return the private key at BIP-44 `path` of the dev mnemonic."""
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(DEV_MNEMONIC, account_path=path)
    return bytes(account.key)


def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> list[DevAccount]:
    """Return the first `count` dev accounts (Hardhat's and Anvil's, in order)."""
    accounts = []
    for index in range(count):
        key = derive_dev_key(DEV_ACCOUNT_PATH.format(index=index))
        address = Account.from_key(key).address
        accounts.append(DevAccount(address=address, private_key="0x" + key.hex()))
    return accounts


def dev_genesis(
    validator: bytes,
    accounts: list[DevAccount],
    *,
    block_period_seconds: int = 1,
    gas_limit: int = DEV_GAS_LIMIT,
    chain_id: int = DEV_CHAIN_ID,
    block_period_milliseconds: int | None = None,
) -> dict[str, object]:
    """Return a Besu-format genesis document: one validator, the dev accounts funded.

    `block_period_milliseconds` adds Besu's `xblockperiodmilliseconds` (sub-second blocks).
    """
    extra = encode_extra_data(ExtraData(vanity=b"\x00" * 32, validators=(validator,)))
    qbft: dict[str, int] = {
        "blockperiodseconds": block_period_seconds,
        "requesttimeoutseconds": max(2 * block_period_seconds, 1),
        "epochlength": 30000,
    }
    if block_period_milliseconds is not None:
        qbft["xblockperiodmilliseconds"] = block_period_milliseconds
    return {
        "config": {"chainId": chain_id, "qbft": qbft},
        "alloc": {account.address: {"balance": hex(DEV_BALANCE_WEI)} for account in accounts},
        "extraData": "0x" + extra.hex(),
        "gasLimit": hex(gas_limit),
        "baseFeePerGas": "0x0",
        "difficulty": "0x1",
        "timestamp": "0x0",
    }


def init_dev_datadir(
    datadir: Path,
    accounts: list[DevAccount],
    *,
    gas_limit: int = DEV_GAS_LIMIT,
    block_period_seconds: int = 1,
    block_period_milliseconds: int | None = None,
) -> None:
    """Initialise `datadir` as a dev ledger (dev validator key, dev genesis), unless it is one."""
    if (datadir / CHAIN_DIR).exists():
        return
    datadir.mkdir(parents=True, exist_ok=True)
    key = create_node_key(datadir, derive_dev_key(DEV_VALIDATOR_PATH))
    genesis = dev_genesis(
        node_address(key),
        accounts,
        gas_limit=gas_limit,
        block_period_seconds=block_period_seconds,
        block_period_milliseconds=block_period_milliseconds,
    )
    genesis_path = datadir / "dev-genesis.json"
    genesis_path.write_text(json.dumps(genesis, indent=2) + "\n", encoding="utf-8")
    init_datadir(datadir, genesis_path)


class RunningNode:
    """A node running in a background thread of this process; also a context manager."""

    def __init__(self, background: BackgroundNode, accounts: list[DevAccount]) -> None:
        self._background = background
        self.dev_accounts = accounts

    @property
    def service(self) -> NodeService:
        """The running service (its ledger, metrics and dispatcher)."""
        return self._background.service

    @property
    def http_url(self) -> str:
        """The HTTP JSON-RPC URL, e.g. http://127.0.0.1:8545."""
        return self._background.service.http_url

    @property
    def ws_url(self) -> str:
        """The WebSocket JSON-RPC URL, e.g. ws://127.0.0.1:8546."""
        return self._background.service.ws_url

    @property
    def chain_id(self) -> int:
        """The chain ID (DEV_CHAIN_ID for a dev data dir)."""
        return self._background.service.api.reader.chain_id

    def stop(self) -> None:
        """Stop serving and close the ledger; idempotent."""
        self._background.stop()

    def __enter__(self) -> RunningNode:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def sub_second_ms(block_period: float | None) -> int | None:
    """Return the period in ms for a sub-second `block_period`, else None (whole seconds)."""
    if block_period is None or block_period >= 1:
        return None
    return max(MIN_BLOCK_PERIOD_MS, round(block_period * 1000))


def start_embedded(
    datadir: Path,
    *,
    http_port: int = 0,
    ws_port: int = 0,
    block_period: float | None = None,
) -> RunningNode:
    """Run a dev node on `datadir` (initialised as a dev ledger if empty) in this process.

    Returns once JSON-RPC answers; port 0 picks free ports. A new data dir with
    `block_period` < 1 s gets `xblockperiodmilliseconds` in its genesis, so e.g. 0.05 really
    seals up to 20 blocks a second. The dev clock methods (evm_increaseTime,
    evm_setNextBlockTimestamp, evm_mine) are served. Raises what opening the ledger raises
    (GenesisError, ConfigError, ...) or RuntimeError when the servers cannot start.
    """
    accounts = dev_accounts()
    init_dev_datadir(datadir, accounts, block_period_milliseconds=sub_second_ms(block_period))
    ledger = open_ledger(datadir)
    try:
        options = service_options(
            ledger.config,
            http_port=http_port,
            ws_port=ws_port,
            block_period=block_period,
            clock_control=True,
        )
        background = BackgroundNode(NodeService(ledger, options, block_clock=ledger.clock))
        background.start()
    except BaseException:
        ledger.close()
        raise
    return RunningNode(background, accounts)


def banner(http_url: str, ws_url: str, accounts: list[DevAccount], datadir: Path) -> str:
    """Return what `mykey dev` prints: URLs, then the dev accounts and their throwaway keys."""
    lines = [
        "MyKey Ledger dev node (one validator, throwaway data)",
        f"  data dir:      {datadir}",
        f"  JSON-RPC HTTP: {http_url}",
        f"  JSON-RPC WS:   {ws_url}",
        f"  chain id:      {DEV_CHAIN_ID}",
        "",
        "Dev accounts (10,000 ETH each). THROWAWAY TEST KEYS from the public mnemonic",
        f'"{DEV_MNEMONIC}": anyone can spend from them. Never use them on a real network.',
        "",
    ]
    for index, account in enumerate(accounts):
        lines.append(f"  ({index}) {account.address}")
        lines.append(f"      test private key: {account.private_key}")
    lines += ["", "Press Ctrl-C to stop."]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse `mykey dev` options."""
    parser = argparse.ArgumentParser(prog="mykey dev", description=__doc__.split("\n")[0])
    parser.add_argument("--datadir", type=Path, help="keep the chain here (default: a temp dir)")
    parser.add_argument("--http-port", type=int, default=DEV_HTTP_PORT)
    parser.add_argument("--ws-port", type=int, default=DEV_WS_PORT)
    parser.add_argument("--block-period", type=float, default=None, help="seconds per block")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run `mykey dev` until Ctrl-C; return the exit code."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    throwaway = args.datadir is None
    datadir: Path = (
        Path(tempfile.mkdtemp(prefix="mykey-dev-")) if args.datadir is None else args.datadir
    )
    try:
        accounts = dev_accounts()
        period_ms = sub_second_ms(args.block_period)
        init_dev_datadir(datadir, accounts, block_period_milliseconds=period_ms)
        ledger = open_ledger(datadir)
        options = service_options(
            ledger.config,
            http_port=args.http_port,
            ws_port=args.ws_port,
            block_period=args.block_period,
            clock_control=True,
        )
        service = NodeService(ledger, options, block_clock=ledger.clock)

        def ready() -> None:
            print(banner(service.http_url, service.ws_url, accounts, datadir), flush=True)

        try:
            asyncio.run(serve_until_signal(service, ready))
        except OSError as error:
            ledger.close()
            print(f"mykey dev: cannot listen: {error}; try --http-port/--ws-port", file=sys.stderr)
            return 1
    finally:
        if throwaway:
            shutil.rmtree(datadir, ignore_errors=True)
    print("dev node stopped", flush=True)
    return 0
