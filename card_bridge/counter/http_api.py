"""`HttpCounterApi`: the `CounterApi` over HTTP with httpx, every request signed by the terminal.

The wire is docs/terminal-requests.md: JSON bodies serialised once here and signed byte for byte
(`signing.sign_request`), binary values in base64 (challenges and statements base64url without
padding, certificates and signatures standard base64, as the registration endpoints do), and
refusals as RFC 9457 problem details whose `type` selects an `ApiRefusal` subclass.

Option B (the terminal signs its own transaction): the account that signs requests also signs
the prepared redeem transaction, after checking it is a call of `redeem` for exactly the
action's amount with no value attached, so an API cannot make this key sign anything else.

Invariants: a network failure, a 5xx or an answer that is not the protocol becomes
`ApiUnavailable`, never an httpx or KeyError; requests are never retried automatically (a
redemption must not be sent twice), the operator retries.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from card_bridge.counter.ports import (
    ActionKind,
    CardAnswer,
    CardChallenge,
    PendingAction,
    Points,
    PreparedRedemption,
    RedemptionResult,
    ServiceIdResult,
    SigningMode,
    TerminalInfo,
    TerminalKind,
    TransactionRefused,
    UnsignedTransaction,
    VoucherResult,
)
from card_bridge.counter.refusals import (
    PROBLEM_TYPE_PREFIX,
    REFUSALS,
    ApiRefusal,
    ApiUnavailable,
)
from card_bridge.counter.signing import sign_request

API_PREFIX = "/terminal/v1"
REQUEST_TIMEOUT_SECONDS = 15.0
"""A redemption waits for a final receipt; QBFT blocks are seconds apart."""

_ACTION_PATHS = {ActionKind.REDEMPTION: "redemptions", ActionKind.VOUCHER: "vouchers"}
REDEEM_ARGUMENTS = [
    "(uint8,bytes8,uint32,uint256,uint64,uint256,uint64,bytes32)",
    "bytes",
    "uint32",
    "uint8",
]
"""PointLedger.redeem(Attestation a, bytes signature, uint32 account, uint8 use)."""
REDEEM_SELECTOR = keccak(text=f"redeem({','.join(REDEEM_ARGUMENTS)})")[:4]


def check_redeem_call(transaction: UnsignedTransaction, *, amount: int) -> None:
    """Raise TransactionRefused unless `transaction` redeems exactly `amount` points, no value."""
    if transaction.value != 0:
        raise TransactionRefused(f"the transaction would send {transaction.value} wei")
    if transaction.data[:4] != REDEEM_SELECTOR:
        raise TransactionRefused("the transaction does not call PointLedger.redeem")
    try:
        attestation, _signature, _account, _use = abi_decode(REDEEM_ARGUMENTS, transaction.data[4:])
    except (DecodingError, ValueError) as error:
        raise TransactionRefused(f"the redeem call does not decode: {error}") from None
    if int(attestation[3]) != amount:
        raise TransactionRefused(f"the redeem call is for {attestation[3]} points, not {amount}")


def b64url(data: bytes) -> str:
    """Base64url without padding (challenges, statements)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    """Decode base64url with or without padding; raise ValueError."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data: bytes) -> str:
    """Standard base64 (certificates, signatures)."""
    return base64.b64encode(data).decode("ascii")


class HttpCounterApi:
    """The platform's terminal endpoints at `base_url`, signed with `account`."""

    def __init__(
        self,
        base_url: str,
        account: LocalAccount,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._account = account
        self._clock = clock
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=REQUEST_TIMEOUT_SECONDS,
            transport=transport,
            headers={"Accept": "application/json, application/problem+json"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def describe_terminal(self) -> TerminalInfo:
        answer = self._request("GET", f"{API_PREFIX}/terminal", None)
        try:
            return TerminalInfo(
                address=str(answer["address"]),
                business=str(answer["business"]),
                kinds=tuple(TerminalKind(kind) for kind in answer["kinds"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise _protocol_error("terminal", error) from None

    def begin_lookup(self, *, service_code: str) -> CardChallenge:
        answer = self._request(
            "POST", f"{API_PREFIX}/lookups/challenges", {"service_code": service_code}
        )
        try:
            return CardChallenge(
                challenge_id=str(answer["challenge_id"]),
                challenge=from_b64url(str(answer["challenge"])),
                expires_at=int(answer["expires_at"]),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            raise _protocol_error("lookup challenge", error) from None

    def complete_lookup(self, challenge: CardChallenge, answer: CardAnswer) -> ServiceIdResult:
        body = {"challenge_id": challenge.challenge_id, **_card_fields(answer)}
        result = self._request("POST", f"{API_PREFIX}/lookups", body)
        try:
            changed_on = result.get("address_changed_on")
            return ServiceIdResult(
                service_code=str(result["service_code"]),
                service_name=str(result["service_name"]),
                service_id=str(result["service_id"]),
                valid_today_only=bool(result["valid_today_only"]),
                valid_on=str(result["valid_on"]),
                address_changed=bool(result["address_changed"]),
                address_changed_on=None if changed_on is None else str(changed_on),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise _protocol_error("lookup", error) from None

    def begin_action(
        self, kind: ActionKind, *, amount: Points, signing: SigningMode = SigningMode.API
    ) -> PendingAction:
        payload: dict[str, object] = {"amount": amount}
        if signing is SigningMode.TERMINAL:
            payload["signing"] = signing.value  # absent means the API signs, as before
        answer = self._request("POST", f"{API_PREFIX}/{_ACTION_PATHS[kind]}", payload)
        try:
            return PendingAction(
                action_id=str(answer["action_id"]),
                kind=kind,
                amount=Points(int(answer["amount"])),
                statement=from_b64url(str(answer["statement"])),
                expires_at=int(answer["expires_at"]),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            raise _protocol_error(kind.value, error) from None

    def complete_redemption(self, action: PendingAction, answer: CardAnswer) -> RedemptionResult:
        return _redemption(self._complete(action, answer))

    def prepare_redemption(self, action: PendingAction, answer: CardAnswer) -> PreparedRedemption:
        result = self._complete(action, answer)
        try:
            fields = result["transaction"]
            return PreparedRedemption(
                action=action,
                municipality_code=str(result["municipality_code"]),
                transaction=UnsignedTransaction(
                    to=to_checksum_address(str(fields["to"])),
                    data=bytes.fromhex(str(fields["data"]).removeprefix("0x")),
                    value=int(fields.get("value", 0)),
                    gas=int(fields["gas"]),
                    gas_price=int(fields["gasPrice"]),
                    chain_id=int(fields["chainId"]),
                    nonce=int(fields["nonce"]),
                ),
                expires_at=int(result["expires_at"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise _protocol_error("prepared redemption", error) from None

    def relay_redemption(self, prepared: PreparedRedemption) -> RedemptionResult:
        check_redeem_call(prepared.transaction, amount=prepared.action.amount)
        fields: Any = prepared.transaction.fields()  # eth_account's TypedDict, by name
        signed = self._account.sign_transaction(fields)
        path = f"{API_PREFIX}/redemptions/{prepared.action.action_id}/signed-transaction"
        raw = "0x" + bytes(signed.raw_transaction).hex()
        return _redemption(self._request("POST", path, {"raw_transaction": raw}))

    def complete_voucher(self, action: PendingAction, answer: CardAnswer) -> VoucherResult:
        result = self._complete(action, answer)
        try:
            return VoucherResult(
                action_id=str(result["action_id"]),
                voucher_code=str(result["voucher_code"]),
                face_value=Points(int(result["face_value"])),
                valid_until=str(result["valid_until"]),
                municipality_code=str(result["municipality_code"]),
                remaining_balance=Points(int(result["remaining_balance"])),
                transaction_hash=str(result["transaction_hash"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise _protocol_error("voucher", error) from None

    def _complete(self, action: PendingAction, answer: CardAnswer) -> Mapping[str, Any]:
        path = f"{API_PREFIX}/{_ACTION_PATHS[action.kind]}/{action.action_id}/card-answer"
        return self._request("POST", path, _card_fields(answer))

    def _request(
        self, method: str, path: str, payload: Mapping[str, object] | None
    ) -> Mapping[str, Any]:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        signed = sign_request(
            self._account, method=method, path=path, body=body, timestamp=int(self._clock())
        )
        headers = signed.as_dict()
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._client.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise ApiUnavailable(
                f"cannot reach the API at {self._client.base_url}: {error}"
            ) from None
        if response.is_success:
            return _json_object(response)
        raise _refusal(response)


def _redemption(result: Mapping[str, Any]) -> RedemptionResult:
    try:
        return RedemptionResult(
            action_id=str(result["action_id"]),
            amount=Points(int(result["amount"])),
            municipality_code=str(result["municipality_code"]),
            remaining_balance=Points(int(result["remaining_balance"])),
            transaction_hash=str(result["transaction_hash"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise _protocol_error("redemption", error) from None


def _card_fields(answer: CardAnswer) -> dict[str, str]:
    return {"certificate": b64(answer.certificate_der), "signature": b64(answer.signature)}


def _json_object(response: httpx.Response) -> Mapping[str, Any]:
    try:
        decoded = response.json()
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise ApiUnavailable(
            f"the API answered {response.status_code} without a JSON object: is the URL right?"
        )
    return decoded


def _refusal(response: httpx.Response) -> ApiRefusal | ApiUnavailable:
    if response.status_code >= 500:
        return ApiUnavailable(f"the API failed ({response.status_code}); try again later")
    problem = _json_object(response)
    problem_type = str(problem.get("type", ""))
    code = problem_type.removeprefix(PROBLEM_TYPE_PREFIX)
    refusal = REFUSALS.get(code, ApiRefusal)
    extra = {key: value for key, value in problem.items() if key not in {"type", "title"}}
    return refusal(str(problem.get("detail", "")), status=response.status_code, extra=extra)


def _protocol_error(what: str, error: Exception) -> ApiUnavailable:
    return ApiUnavailable(f"the API's {what} answer is not the documented protocol: {error!r}")
