"""`mykey net`: make a consortium (`init`), show its nodes (`status`); `up` awaits the node.

`mykey net init DIR` writes, under a folder that must not exist yet (or be empty):

    DIR/ca/ca.key (0600), DIR/ca/ca.crt          the consortium CA
    DIR/genesis.json                             Besu-format QBFT genesis naming the validators
    DIR/permissions.toml                         every node, its organisation and role
    DIR/revoked.crl.pem                          the CA's (empty) revocation list
    DIR/<organisation>/                          one data directory per organisation:
        keys/node.key (0600)                     secp256k1 node key, hex
        keys/tls.key (0600), keys/tls.crt        TLS key and the certificate binding the node key
        keys/ca.crt, genesis.json, permissions.toml, revoked.crl.pem
        config.toml                              the node's [rpc] ports (distinct per node)
        network.toml                             [p2p] port and every other node as a static peer

`mykey net status DIR` asks each node's JSON-RPC for its head, peer count and QBFT height/round
(exit 3 when a node does not answer). `mykey net up DIR [-n 4]` makes DIR a consortium of n
validators if it holds none, runs every node as its own `mykey node run` process on loopback and
stops them all on Ctrl-C (node.consortium_up, started as a child process).

Invariants: existing keys are never overwritten; every private key file is mode 0600; ports are
consecutive from the given bases so N nodes fit on one loopback interface.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from network.config import PeerEndpoint
from network.genesis import GenesisSpecError, consortium_genesis
from network.identity import NodeAddress, NodeKey, format_address
from network.permissions import PermissionList, PermittedNode
from network.pki import ConsortiumCA, Role, issue_node_files, write_crl
from network.settings import PERMISSIONS_FILE, NetworkSettings
from network.status import NodeStatus, StatusError, consortium_status, format_status

GENESIS_FILE = "genesis.json"
CRL_FILE = "revoked.crl.pem"
NODE_KEY_FILE = Path("keys") / "node.key"
"""Where `node.genesis` expects the node key: one line of hex, mode 0600."""


class InitError(Exception):
    """`net init` cannot proceed; the message says what to change."""


@dataclass(frozen=True)
class OrganisationSpec:
    """One `--org NAME[:ROLE]` argument."""

    name: str
    role: Role

    @property
    def folder(self) -> str:
        """The data directory name: the organisation name as a lower-case slug."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        return slug or "node"

    @classmethod
    def parse(cls, text: str) -> OrganisationSpec:
        """Parse `NAME` or `NAME:validator|member`; raise InitError otherwise."""
        name, _, role_text = text.rpartition(":") if ":" in text else (text, "", "validator")
        try:
            role = Role(role_text.strip().lower())
        except ValueError as error:
            raise InitError(f"--org {text!r}: role must be validator or member") from error
        if not name.strip():
            raise InitError(f"--org {text!r}: the organisation name is empty")
        return cls(name=name.strip(), role=role)


@dataclass(frozen=True)
class InitOptions:
    """Everything `net init` needs, parsed from the command line."""

    folder: Path
    organisations: tuple[OrganisationSpec, ...]
    chain_id: int
    host: str
    p2p_port: int
    rpc_port: int
    block_period_seconds: int
    request_timeout_seconds: int


@dataclass(frozen=True)
class InitializedNode:
    """What `init_consortium` made for one organisation."""

    organisation: str
    role: Role
    address: NodeAddress
    datadir: Path
    p2p_port: int
    rpc_port: int


def init_consortium(
    options: InitOptions, now: datetime.datetime | None = None
) -> list[InitializedNode]:
    """Write a new consortium under `options.folder` (layout in the module doc); return its nodes.

    Raises InitError when the folder is not empty, names clash, or there is no validator.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    folder = options.folder
    if folder.exists() and any(folder.iterdir()):
        raise InitError(f"{folder} is not empty; choose a new folder (keys are never overwritten)")
    specs = options.organisations
    folders = [spec.folder for spec in specs]
    if len(set(folders)) != len(folders):
        raise InitError(f"organisation names must differ (data directories {folders})")
    if not any(spec.role is Role.VALIDATOR for spec in specs):
        raise InitError("at least one organisation must be a validator")
    if {"ca"} & set(folders):
        raise InitError("an organisation may not be called 'ca' (that folder holds the CA)")

    ca = ConsortiumCA.create("MyKey Ledger", now)
    ca.save(folder / "ca")
    crl = ca.issue_crl([], now, days=365)
    write_crl(folder / CRL_FILE, crl)

    keys = [NodeKey.generate() for _ in specs]
    nodes = [
        InitializedNode(
            organisation=spec.name,
            role=spec.role,
            address=key.address,
            datadir=folder / spec.folder,
            p2p_port=options.p2p_port + index,
            rpc_port=options.rpc_port + 2 * index,
        )
        for index, (spec, key) in enumerate(zip(specs, keys, strict=True))
    ]
    permissions = PermissionList(
        nodes=tuple(
            PermittedNode(address=node.address, organisation=node.organisation, role=node.role)
            for node in nodes
        )
    )
    permissions.save(folder / PERMISSIONS_FILE)
    try:
        genesis = consortium_genesis(
            chain_id=options.chain_id,
            validators=permissions.validators,
            block_period_seconds=options.block_period_seconds,
            request_timeout_seconds=options.request_timeout_seconds,
        )
    except GenesisSpecError as error:
        raise InitError(str(error)) from error
    genesis_text = json.dumps(genesis, indent=2) + "\n"
    (folder / GENESIS_FILE).write_text(genesis_text, encoding="utf-8")

    for node, key, spec in zip(nodes, keys, specs, strict=True):
        _write_datadir(node=node, key=key, spec=spec, ca=ca, nodes=nodes, options=options, now=now)
        shutil.copyfile(folder / GENESIS_FILE, node.datadir / GENESIS_FILE)
        shutil.copyfile(folder / PERMISSIONS_FILE, node.datadir / PERMISSIONS_FILE)
        shutil.copyfile(folder / CRL_FILE, node.datadir / CRL_FILE)
    return nodes


def _write_datadir(
    *,
    node: InitializedNode,
    key: NodeKey,
    spec: OrganisationSpec,
    ca: ConsortiumCA,
    nodes: Sequence[InitializedNode],
    options: InitOptions,
    now: datetime.datetime,
) -> None:
    keys_folder = node.datadir / "keys"
    keys_folder.mkdir(parents=True)
    keys_folder.chmod(0o700)
    key.save(node.datadir / NODE_KEY_FILE)
    issue_node_files(
        ca=ca,
        node_key=key,
        organisation=spec.name,
        role=spec.role,
        keys_folder=keys_folder,
        now=now,
    )
    config = {
        "rpc": {"host": options.host, "http_port": node.rpc_port, "ws_port": node.rpc_port + 1}
    }
    (node.datadir / "config.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    settings = NetworkSettings(
        host=options.host,
        port=node.p2p_port,
        peers=tuple(
            PeerEndpoint(address=other.address, host=options.host, port=other.p2p_port)
            for other in nodes
            if other.address != node.address
        ),
        permissions=node.datadir / PERMISSIONS_FILE,
        revocation_list=node.datadir / CRL_FILE,
    )
    settings.save(node.datadir)


def run_up(folder: Path, validators: int) -> int:
    """Run `mykey net up`: the node package's launcher, as a child process.

    The network package never imports the node (tests/test_boundaries.py); the launcher
    (node.consortium_up) starts one `mykey node run` per data directory and stops them all on
    Ctrl-C. Returns its exit code.
    """
    command = [sys.executable, "-m", "node.consortium_up", str(folder), "-n", str(validators)]
    process = subprocess.Popen(command)

    def forward(signum: int, frame: object) -> None:
        # Ctrl-C in a terminal reaches the launcher too; a signal sent to this process alone
        # (a supervisor, a test) must reach it as well. It stops its nodes either way.
        if process.poll() is None:
            process.send_signal(signum)

    previous = {
        signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _round_of(url: str, timeout: float) -> str:
    """Return `height/round` from a node's `qbft_getRoundStatus`, or `-` when unavailable."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "qbft_getRoundStatus"}).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the node's http:// RPC address
        url, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            result = json.loads(response.read()).get("result")
        return f"{int(result['height'], 16)}/{int(result['round'], 16)}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "-"


def with_rounds(table: str, statuses: Sequence[NodeStatus], timeout: float) -> str:
    """Append each running node's consensus height/round to the `net status` table."""
    lines = table.split("\n")
    rounds = [
        "-" if status.error is not None else _round_of(status.rpc_url, timeout)
        for status in statuses
    ]
    out = [f"{lines[0]}  height/round"]
    out.extend(f"{line}  {text}" for line, text in zip(lines[1:], rounds, strict=True))
    return "\n".join(out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mykey net", description="consortium network")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="make a consortium: CA, keys, genesis, data dirs")
    init.add_argument("folder", type=Path, help="new folder to write the consortium into")
    init.add_argument(
        "--org",
        action="append",
        default=[],
        metavar="NAME[:ROLE]",
        help="an organisation running a node; ROLE is validator (default) or member",
    )
    init.add_argument(
        "-n",
        "--validators",
        type=int,
        default=4,
        help="without --org: make this many validator organisations (default 4)",
    )
    init.add_argument("--chain-id", type=int, default=1337)
    init.add_argument("--host", default="127.0.0.1", help="address every node listens on")
    init.add_argument("--p2p-port", type=int, default=30303, help="first node's peer port")
    init.add_argument("--rpc-port", type=int, default=8545, help="first node's JSON-RPC port")
    init.add_argument("--block-period", type=int, default=1, help="seconds between blocks")
    init.add_argument("--request-timeout", type=int, default=4, help="QBFT round 0 timeout (s)")
    up = commands.add_parser("up", help="run every node of a consortium folder until Ctrl-C")
    up.add_argument("folder", type=Path, help="consortium folder (made with -n nodes if new)")
    up.add_argument("-n", "--validators", type=int, default=4, help="validators when new")
    status = commands.add_parser("status", help="show each node's head and peer count")
    status.add_argument("folder", type=Path, help="the folder `mykey net init` wrote")
    status.add_argument("--timeout", type=float, default=2.0, help="seconds to wait per node")
    return parser


def main(argv: list[str]) -> int:
    """Run `mykey net ARGS`; return the process exit code."""
    arguments = _parser().parse_args(argv)
    if arguments.command == "up":
        return run_up(arguments.folder, arguments.validators)
    if arguments.command == "status":
        try:
            statuses = consortium_status(arguments.folder, arguments.timeout)
        except StatusError as error:
            print(f"mykey net status: {error}", file=sys.stderr)
            return 1
        print(with_rounds(format_status(statuses), statuses, arguments.timeout))
        return 0 if all(status.error is None for status in statuses) else 3
    try:
        specs = [OrganisationSpec.parse(text) for text in arguments.org]
        if not specs:
            if arguments.validators < 1:
                raise InitError("-n must be at least 1")
            specs = [
                OrganisationSpec(name=f"node{index + 1}", role=Role.VALIDATOR)
                for index in range(arguments.validators)
            ]
        options = InitOptions(
            folder=arguments.folder,
            organisations=tuple(specs),
            chain_id=arguments.chain_id,
            host=arguments.host,
            p2p_port=arguments.p2p_port,
            rpc_port=arguments.rpc_port,
            block_period_seconds=arguments.block_period,
            request_timeout_seconds=arguments.request_timeout,
        )
        nodes = init_consortium(options)
    except InitError as error:
        print(f"mykey net init: {error}", file=sys.stderr)
        return 1
    print(f"consortium written to {options.folder} (chain id {options.chain_id})")
    for node in nodes:
        print(
            f"  {node.role.value:<9} {format_address(node.address)}  {node.organisation:<20} "
            f"{node.datadir}  p2p {node.p2p_port}  rpc {node.rpc_port}"
        )
    return 0
