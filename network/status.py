"""`mykey net status`: ask every node of a consortium folder for its head and peer count.

Reads the layout `mykey net init` wrote (one data directory per organisation) and queries each
node's JSON-RPC on its `[rpc]` address with standard methods only (`eth_blockNumber`,
`net_peerCount`), so it works against this node and against Besu alike. A node that does not
answer within the timeout is shown as not running; nothing here raises for a down node.
Invariants: only the loopback or configured RPC address is contacted; no key material is read
(the node address comes from the TLS certificate's node binding).
"""

from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from network.identity import NodeAddress, format_address
from network.pki import BindingError, PkiError, read_certificate, read_node_binding
from network.settings import SETTINGS_FILE


class StatusError(Exception):
    """The folder holds no consortium data directory; the message says where it looked."""


@dataclass(frozen=True)
class NodeStatus:
    """What one node reported, or why it did not."""

    organisation: str
    role: str
    address: NodeAddress
    rpc_url: str
    head: int | None
    peers: int | None
    error: str | None


def _rpc_url(datadir: Path) -> str:
    try:
        document = tomllib.loads((datadir / "config.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        document = {}
    rpc = document.get("rpc", {})
    host = rpc.get("host", "127.0.0.1") if isinstance(rpc, dict) else "127.0.0.1"
    port = rpc.get("http_port", 8545) if isinstance(rpc, dict) else 8545
    return f"http://{host}:{port}"


def _call(url: str, method: str, timeout: float) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is built from http:// above
        url, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        reply = json.loads(response.read())
    if not isinstance(reply, dict) or "result" not in reply:
        raise ValueError(f"{method} returned no result: {reply!r}"[:200])
    return int(str(reply["result"]), 16)


def node_status(datadir: Path, timeout: float) -> NodeStatus:
    """Return the status of the node whose data directory is `datadir`."""
    binding = read_node_binding(read_certificate(datadir / "keys" / "tls.crt"))
    url = _rpc_url(datadir)
    head: int | None = None
    peers: int | None = None
    error: str | None = None
    try:
        head = _call(url, "eth_blockNumber", timeout)
        peers = _call(url, "net_peerCount", timeout)
    except (OSError, urllib.error.URLError, ValueError, TimeoutError) as failure:
        error = str(getattr(failure, "reason", failure)) or type(failure).__name__
    return NodeStatus(
        organisation=binding.organisation,
        role=binding.role.value,
        address=binding.address,
        rpc_url=url,
        head=head,
        peers=peers,
        error=error,
    )


def consortium_status(folder: Path, timeout: float = 2.0) -> list[NodeStatus]:
    """Return the status of every data directory in `folder`, in folder-name order.

    Raises StatusError when no sub-folder holds a `network.toml` and a node certificate.
    """
    datadirs = (
        sorted(
            path for path in folder.iterdir() if path.is_dir() and (path / SETTINGS_FILE).exists()
        )
        if folder.is_dir()
        else []
    )
    if not datadirs:
        raise StatusError(f"no node data directories (with {SETTINGS_FILE}) under {folder}")
    statuses = []
    for datadir in datadirs:
        try:
            statuses.append(node_status(datadir, timeout))
        except (PkiError, BindingError) as error:
            raise StatusError(f"{datadir}: {error}") from error
    return statuses


def format_status(statuses: list[NodeStatus]) -> str:
    """Return the table `mykey net status` prints."""
    lines = [f"{'organisation':<20} {'role':<9} {'address':<42} {'head':>8} {'peers':>5}  rpc"]
    for status in statuses:
        if status.error is None:
            figures = f"{status.head:>8} {status.peers:>5}"
        else:
            figures = f"{'-':>8} {'-':>5}"
        line = (
            f"{status.organisation:<20} {status.role:<9} {format_address(status.address):<42} "
            f"{figures}  {status.rpc_url}"
        )
        if status.error is not None:
            line += f"  not running ({status.error})"
        lines.append(line)
    return "\n".join(lines)
