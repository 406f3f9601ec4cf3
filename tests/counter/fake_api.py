"""A fake platform API that implements docs/terminal-requests.md, served on a loopback port.

Real HTTP (aiohttp in a thread), real request-signature checks (`signing.verify_request`, nonce
replay, registered terminals and kinds) and real card-answer checks (the card's RSA signature
against its certificate); the ledger behind it is a dict. Every request received is recorded so
tests can prove the PIN never reached the API. A redemption opened with `"signing": "terminal"`
answers the card with an unsigned redeem transaction and moves the points only when the
terminal posts it signed by its own key (checked with eth_account, as the real API does).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import rlp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from eth_abi.abi import encode as abi_encode
from eth_account import Account

from card_bridge.counter.http_api import REDEEM_ARGUMENTS, REDEEM_SELECTOR
from card_bridge.counter.signing import RequestSignatureInvalid, verify_request
from card_bridge.counter.statements import build_statement
from card_bridge.platform_checks.authentication import verify_challenge_signature
from card_bridge.platform_checks.refusals import CardAuthenticationRefused

PREFIX = "urn:mykey-ledger:problem:"
FAKE_LEDGER = "0x" + "4c" * 20
FAKE_CHAIN_ID = 1337


@dataclass
class FakeServiceLink:
    service_id: str
    expired: bool = False
    valid_today_only: bool = False
    address_changed_on: str | None = None


@dataclass
class FakeResident:
    mykey_id: str
    balance: int
    municipality_code: str = "14130"
    revoked: bool = False
    links: dict[str, FakeServiceLink] = field(default_factory=dict)


@dataclass
class FakeTerminal:
    business: str
    kinds: tuple[str, ...]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakePlatform:
    """The fake API's state; tests set it up and inspect it."""

    terminals: dict[str, FakeTerminal] = field(default_factory=dict)
    residents: dict[str, FakeResident] = field(default_factory=dict)
    services: dict[str, tuple[str, str]] = field(default_factory=dict)
    """service code -> (name, operating business)."""
    businesses_taking_points: set[str] = field(default_factory=set)
    statement_amount_override: int | None = None
    transaction_amount_override: int | None = None
    """Set to make the prepared redeem transaction name another amount (a lying API)."""
    relayed: list[dict[str, Any]] = field(default_factory=list)
    """Every raw transaction the fake relayed, decoded: {"action_id", "sender", "nonce"}."""
    requests: list[RecordedRequest] = field(default_factory=list)
    challenges: dict[str, tuple[bytes, str, str]] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen_nonces: set[tuple[str, str]] = field(default_factory=set)
    today: str = "2027-04-01"

    def register_card(self, certificate: x509.Certificate, resident: FakeResident) -> None:
        der = certificate.public_bytes(_DER)
        self.residents[hashlib.sha256(der).hexdigest()] = resident


_DER = Encoding.DER


class Problem(Exception):
    def __init__(self, code: str, status: int, **extra: object) -> None:
        super().__init__(code)
        self.code, self.status, self.extra = code, status, extra


def _problem(error: Problem) -> web.Response:
    body = {"type": PREFIX + error.code, "title": error.code, "status": error.status, **error.extra}
    return web.Response(
        status=error.status, body=json.dumps(body), content_type="application/problem+json"
    )


class FakeApiServer:
    """Serves a FakePlatform on 127.0.0.1:<free port> from a background thread."""

    def __init__(self, platform: FakePlatform) -> None:
        self.platform = platform
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-api")
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.platform.requests.append(
            RecordedRequest(request.method, request.path_qs, dict(request.headers), body)
        )
        try:
            terminal_address = self._authenticate(request, body)
            payload = json.loads(body) if body else {}
            answer, status = self._route(request.method, request.path, terminal_address, payload)
        except Problem as error:
            return _problem(error)
        return web.json_response(answer, status=status)

    def _authenticate(self, request: web.Request, body: bytes) -> str:
        try:
            address, nonce = verify_request(
                method=request.method,
                path=request.path_qs,
                body=body,
                headers=dict(request.headers),
                now=int(time.time()),
            )
        except RequestSignatureInvalid as error:
            raise Problem("terminal-request-invalid", 401, detail=str(error)) from None
        if (address.lower(), nonce) in self.platform.seen_nonces:
            raise Problem("terminal-request-invalid", 401, detail="nonce replayed")
        self.platform.seen_nonces.add((address.lower(), nonce))
        if address.lower() not in self.platform.terminals:
            raise Problem("terminal-not-registered", 401)
        return address.lower()

    def _require_kind(self, terminal: str, kind: str) -> FakeTerminal:
        registered = self.platform.terminals[terminal]
        if kind not in registered.kinds:
            raise Problem("terminal-wrong-kind", 403)
        return registered

    def _route(
        self, method: str, path: str, terminal: str, payload: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        parts = path.removeprefix("/terminal/v1/").split("/")
        if method == "GET" and parts == ["terminal"]:
            registered = self.platform.terminals[terminal]
            return {
                "address": terminal,
                "business": registered.business,
                "kinds": list(registered.kinds),
            }, 200
        if method == "POST" and parts == ["lookups", "challenges"]:
            return self._lookup_challenge(terminal, payload), 201
        if method == "POST" and parts == ["lookups"]:
            return self._lookup(terminal, payload), 200
        if method == "POST" and len(parts) == 1 and parts[0] in ("redemptions", "vouchers"):
            return self._begin_action(terminal, parts[0], payload), 201
        if method == "POST" and len(parts) == 3 and parts[2] == "card-answer":
            return self._complete_action(terminal, parts[0], parts[1], payload), 200
        if method == "POST" and len(parts) == 3 and parts[2] == "signed-transaction":
            return self._relay(terminal, parts[1], payload), 200
        raise Problem("not-found", 404)

    def _lookup_challenge(self, terminal: str, payload: dict[str, Any]) -> dict[str, Any]:
        registered = self._require_kind(terminal, "service-id-lookup")
        code = str(payload.get("service_code"))
        if self.platform.services.get(code, ("", ""))[1] != registered.business:
            raise Problem("terminal-wrong-kind", 403, detail="not this business's service")
        challenge_id = secrets.token_urlsafe(16)
        value = secrets.token_bytes(32)
        self.platform.challenges[challenge_id] = (value, terminal, code)
        return {
            "challenge_id": challenge_id,
            "challenge": base64.urlsafe_b64encode(value).rstrip(b"=").decode(),
            "expires_at": int(time.time()) + 120,
        }

    def _resident(self, payload: dict[str, Any], message: bytes) -> FakeResident:
        der = base64.b64decode(payload["certificate"])
        signature = base64.b64decode(payload["signature"])
        certificate = x509.load_der_x509_certificate(der)
        try:
            verify_challenge_signature(certificate, message, signature)
        except CardAuthenticationRefused:
            raise Problem("card-answer-invalid", 401) from None
        resident = self.platform.residents.get(hashlib.sha256(der).hexdigest())
        if resident is None:
            raise Problem("mykey-id-not-registered", 404)
        if resident.revoked:
            raise Problem("mykey-id-revoked", 403)
        return resident

    def _lookup(self, terminal: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._require_kind(terminal, "service-id-lookup")
        found = self.platform.challenges.pop(str(payload.get("challenge_id")), None)
        if found is None or found[1] != terminal:
            raise Problem("challenge-expired", 410)
        value, _, code = found
        resident = self._resident(payload, value)
        link = resident.links.get(code)
        if link is None:
            raise Problem("service-link-missing", 404)
        if link.expired:
            raise Problem("service-link-expired", 410)
        return {
            "service_code": code,
            "service_name": self.platform.services[code][0],
            "service_id": link.service_id,
            "valid_today_only": link.valid_today_only,
            "valid_on": self.platform.today,
            "address_changed": link.address_changed_on is not None,
            "address_changed_on": link.address_changed_on,
        }

    def _begin_action(self, terminal: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        kind = "redemption" if path == "redemptions" else "voucher"
        registered = self._require_kind(
            terminal, "point-use" if kind == "redemption" else "voucher-issue"
        )
        amount = payload.get("amount")
        if not isinstance(amount, int) or amount < 1:
            raise Problem("amount-invalid", 422)
        action_id = ("rd_" if kind == "redemption" else "vc_") + secrets.token_hex(8)
        expires_at = int(time.time()) + 120
        stated = self.platform.statement_amount_override or amount
        statement = build_statement(
            {
                "action": kind,
                "action_id": action_id,
                "terminal": terminal,
                "business": registered.business,
                "amount": str(stated),
                "challenge": base64.urlsafe_b64encode(secrets.token_bytes(32))
                .rstrip(b"=")
                .decode(),
                "expires_at": str(expires_at),
            }
        )
        self.platform.actions[action_id] = {
            "kind": kind,
            "amount": amount,
            "statement": statement,
            "terminal": terminal,
            "business": registered.business,
            "signing": payload.get("signing", "api"),
        }
        return {
            "action_id": action_id,
            "amount": amount,
            "expires_at": expires_at,
            "statement": base64.urlsafe_b64encode(statement).rstrip(b"=").decode(),
        }

    def _complete_action(
        self, terminal: str, path: str, action_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        action = self.platform.actions.pop(action_id, None)
        if action is None or action["terminal"] != terminal:
            raise Problem("challenge-expired", 410)
        resident = self._resident(payload, action["statement"])
        if action["business"] not in self.platform.businesses_taking_points:
            raise Problem("wrong-business", 403)
        amount = int(action["amount"])
        if resident.balance < amount:
            raise Problem("insufficient-points", 409, balance=resident.balance)
        if action["signing"] == "terminal":
            return self._prepare(action_id, action, resident)
        resident.balance -= amount
        result: dict[str, Any] = {
            "action_id": action_id,
            "municipality_code": resident.municipality_code,
            "remaining_balance": resident.balance,
            "transaction_hash": "0x" + secrets.token_hex(32),
        }
        if path == "vouchers":
            result |= {
                "voucher_code": "V-" + secrets.token_hex(4).upper(),
                "face_value": amount,
                "valid_until": "2027-09-30",
            }
        else:
            result["amount"] = amount
        return result

    def _prepare(
        self, action_id: str, action: dict[str, Any], resident: FakeResident
    ) -> dict[str, Any]:
        """Option B: keep the action as prepared; answer with the unsigned redeem transaction."""
        stated = self.platform.transaction_amount_override or int(action["amount"])
        attestation = (1, b"A01B2C3D", 14130, stated, 7, 1, int(time.time()) + 120, b"\0" * 32)
        data = REDEEM_SELECTOR + abi_encode(REDEEM_ARGUMENTS, [attestation, b"\1" * 65, 0, 1])
        transaction = {
            "to": FAKE_LEDGER,
            "data": "0x" + data.hex(),
            "value": 0,
            "gas": 3_000_000,
            "gasPrice": 0,
            "chainId": FAKE_CHAIN_ID,
            "nonce": 0,
        }
        self.platform.actions[action_id] = action | {
            "transaction": transaction,
            "resident": resident,
        }
        return {
            "action_id": action_id,
            "amount": int(action["amount"]),
            "municipality_code": resident.municipality_code,
            "transaction": transaction,
            "expires_at": attestation[6],
        }

    def _relay(self, terminal: str, action_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        action = self.platform.actions.get(action_id)
        if action is None or "transaction" not in action or action["terminal"] != terminal:
            raise Problem("action-expired", 410)
        raw = bytes.fromhex(str(payload["raw_transaction"]).removeprefix("0x"))
        sender = str(Account.recover_transaction(raw)).lower()
        if sender != terminal:
            raise Problem("signed-by-another-account", 403)
        if _unsigned_fields(raw) != _prepared_fields(action["transaction"]):
            raise Problem("transaction-mismatch", 422)
        del self.platform.actions[action_id]
        resident: FakeResident = action["resident"]
        resident.balance -= int(action["amount"])
        self.platform.relayed.append({"action_id": action_id, "sender": sender})
        return {
            "action_id": action_id,
            "amount": int(action["amount"]),
            "municipality_code": resident.municipality_code,
            "remaining_balance": resident.balance,
            "transaction_hash": "0x" + secrets.token_hex(32),
        }


def _unsigned_fields(raw: bytes) -> list[object]:
    """A legacy transaction's fields without its signature: nonce, price, gas, to, value, data."""
    nonce, price, gas, to, value, data = rlp.decode(raw)[:6]
    return [int.from_bytes(item, "big") for item in (nonce, price, gas)] + [
        "0x" + bytes(to).hex(),
        int.from_bytes(value, "big"),
        "0x" + bytes(data).hex(),
    ]


def _prepared_fields(transaction: dict[str, Any]) -> list[object]:
    return [
        transaction["nonce"],
        transaction["gasPrice"],
        transaction["gas"],
        transaction["to"].lower(),
        transaction["value"],
        transaction["data"],
    ]
