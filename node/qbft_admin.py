"""The authenticated admin endpoint: validator votes and consensus status, never on the RPC port.

A separate JSON-RPC listener bound to 127.0.0.1 only, answering POSTs that carry
`Authorization: Bearer <token>`, where the token is read from `<datadir>/keys/admin.token` (made
on first use with 256 random bits, mode 0600; a file readable by group or others is refused, as
anyone who can read it can change the validator set). Methods (Besu names):

- `qbft_proposeValidatorVote(address, add: bool)` -> true: vote in every block we propose;
- `qbft_discardValidatorVote(address)` -> true: stop voting on that address;
- `qbft_getPendingVotes()` -> {address: add}: our votes not yet discarded;
- `qbft_getRoundStatus()` -> {head, height, round, isValidator, validators, peers}.

Invariants: the token is compared in constant time; a request without it gets HTTP 401 and no
hint of the methods; the listener never binds anything but loopback.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from node.consortium import ConsortiumNode
from node.ports import Address

ADMIN_TOKEN_FILE = Path("keys") / "admin.token"
ADMIN_HOST = "127.0.0.1"
MAX_ADMIN_REQUEST_BYTES = 64 * 1024
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


class AdminTokenError(PermissionError):
    """The admin token file is unsafe or unreadable; the message says how to fix it."""


class AdminCallError(Exception):
    """A JSON-RPC error to return to the caller."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def load_or_create_admin_token(datadir: Path) -> str:
    """Return the admin token of `datadir`, creating `keys/admin.token` (0600) when absent.

    Raises AdminTokenError when the file is readable by group or others, or empty.
    """
    path = datadir / ADMIN_TOKEN_FILE
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise AdminTokenError(
            f"{path} has mode {mode:o}; anyone who reads it can vote validators in or out: "
            f"run `chmod 600 {path}`"
        )
    token = path.read_text(encoding="ascii").strip()
    if not token:
        raise AdminTokenError(f"{path} is empty; delete it and a new token is made at start")
    return token


def _address(params: list[Any], index: int) -> Address:
    if len(params) <= index or not isinstance(params[index], str):
        raise AdminCallError(INVALID_PARAMS, f"argument {index} must be a 0x address")
    text = params[index]
    try:
        raw = bytes.fromhex(text[2:] if text.lower().startswith("0x") else text)
    except ValueError as error:
        raise AdminCallError(INVALID_PARAMS, f"argument {index} is not hex: {text!r}") from error
    if len(raw) != 20:
        raise AdminCallError(INVALID_PARAMS, f"argument {index} must be 20 bytes, got {len(raw)}")
    return Address(raw)


def _hex(address: bytes) -> str:
    return "0x" + address.hex()


class QbftAdmin:
    """The admin methods over one consortium node."""

    def __init__(self, node: ConsortiumNode) -> None:
        self.node = node
        self.methods: dict[str, Callable[[list[Any]], Any]] = {
            "qbft_proposeValidatorVote": self.propose_validator_vote,
            "qbft_discardValidatorVote": self.discard_validator_vote,
            "qbft_getPendingVotes": self.get_pending_votes,
            "qbft_getRoundStatus": self.get_round_status,
        }

    def propose_validator_vote(self, params: list[Any]) -> bool:
        """Vote to add (true) or drop (false) an address in the blocks we propose."""
        subject = _address(params, 0)
        if len(params) != 2 or not isinstance(params[1], bool):
            raise AdminCallError(INVALID_PARAMS, "argument 1 must be true (add) or false (drop)")
        self.node.votes.propose(subject, params[1])
        return True

    def discard_validator_vote(self, params: list[Any]) -> bool:
        """Stop voting on an address."""
        self.node.votes.discard(_address(params, 0))
        return True

    def get_pending_votes(self, params: list[Any]) -> dict[str, bool]:
        """Return our pending votes: address -> add."""
        return {_hex(subject): add for subject, add in self.node.votes.pending().items()}

    def get_round_status(self, params: list[Any]) -> dict[str, Any]:
        """Return head, consensus height and round, whether we validate, validators, peers."""
        status = self.node.status()
        return {
            "head": status.head,
            "height": status.height,
            "round": status.round,
            "isValidator": status.is_validator,
            "validators": [_hex(v) for v in status.validators],
            "peers": status.peers,
        }

    def call(self, request: Any) -> dict[str, Any]:
        """Answer one JSON-RPC request object."""
        request_id = request.get("id") if isinstance(request, dict) else None
        try:
            if not isinstance(request, dict) or not isinstance(request.get("method"), str):
                raise AdminCallError(INVALID_REQUEST, "expected a JSON-RPC 2.0 request object")
            method = self.methods.get(request["method"])
            if method is None:
                raise AdminCallError(METHOD_NOT_FOUND, f"no admin method {request['method']}")
            params = request.get("params", [])
            if not isinstance(params, list):
                raise AdminCallError(INVALID_PARAMS, "params must be an array")
            return {"jsonrpc": "2.0", "id": request_id, "result": method(params)}
        except AdminCallError as error:
            return {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": error.code, "message": str(error)},
            }


def admin_app(admin: QbftAdmin, token: str) -> web.Application:
    """Return the aiohttp app: POST / with the bearer token, JSON-RPC body."""
    expected = f"Bearer {token}".encode()

    async def handle(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response({"error": "missing or wrong admin token"}, status=401)
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
            )
        return web.json_response(admin.call(body))

    app = web.Application(client_max_size=MAX_ADMIN_REQUEST_BYTES)
    app.router.add_post("/", handle)
    return app


async def start_admin(admin: QbftAdmin, token: str, port: int) -> tuple[web.AppRunner, int]:
    """Listen on 127.0.0.1:`port` (0: any free port); return the runner and the bound port."""
    runner = web.AppRunner(admin_app(admin, token), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, ADMIN_HOST, port)
    await site.start()
    return runner, int(runner.addresses[-1][1])
