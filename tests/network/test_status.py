"""`mykey net status` against a real HTTP JSON-RPC endpoint on loopback and a node that is down."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import tomli_w

from network.cli import main
from network.permissions import PermissionList

from .support import free_port


class FakeRpc(BaseHTTPRequestHandler):
    """Answers eth_blockNumber with 0x2a and net_peerCount with 0x3, like a running node."""

    answers: ClassVar[dict[str, str]] = {"eth_blockNumber": "0x2a", "net_peerCount": "0x3"}

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps(
            {"jsonrpc": "2.0", "id": request["id"], "result": self.answers[request["method"]]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def rpc_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRpc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def set_rpc_port(datadir: Path, port: int) -> None:
    config = {"rpc": {"host": "127.0.0.1", "http_port": port, "ws_port": port + 1}}
    (datadir / "config.toml").write_text(tomli_w.dumps(config))


def test_status_shows_running_and_stopped_nodes(
    tmp_path: Path, rpc_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "c"
    assert main(["init", str(folder), "--org", "Yokohama City", "--org", "Partner:member"]) == 0
    capsys.readouterr()
    set_rpc_port(folder / "yokohama-city", rpc_port)
    set_rpc_port(folder / "partner", free_port())  # nothing listens there
    assert main(["status", str(folder), "--timeout", "2"]) == 3  # one node is down
    lines = capsys.readouterr().out.splitlines()
    permissions = PermissionList.load(folder / "permissions.toml")
    partner, yokohama = lines[1], lines[2]  # folder-name order
    assert yokohama.split()[:3] == ["Yokohama", "City", "validator"]
    assert f"0x{permissions.nodes[0].address.hex()}" in yokohama
    assert yokohama.split()[4:6] == ["42", "3"]
    assert "not running" in partner and "member" in partner


def test_status_of_a_folder_without_nodes_explains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", str(tmp_path)]) == 1
    assert "no node data directories" in capsys.readouterr().err
