"""Option B of docs/terminal-requests.md: checking a redeem transaction the terminal signed itself.

After the card answer the API hands the terminal the unsigned redeem transaction it would have
sent (`PreparedTransaction`, kept as JSON with the action); the terminal signs it with the key
only it holds and posts the raw bytes. `check_relayed` decides whether those bytes are exactly
that transaction from that terminal before anything reaches the node.

What must be equal: signer (the requesting terminal), `to`, `data` (so the attestation, account
and use), `value` (0), chain id, the fee (legacy `gasPrice`, or type 2 with `maxFeePerGas` and
`maxPriorityFeePerGas` both equal to it: the ledger's base fee is zero) and an empty access
list. What may differ, within bounds: `gas` from 21,000 up to the prepared limit (a terminal may
ask for less; too little only fails its own transaction); `nonce` the terminal account's pending
count at relay time, which is the prepared one unless the terminal sent another transaction
meanwhile (any other nonce would be refused by the node or wait behind a gap).
Each difference is its own problem type, so the counter can say what went wrong.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import rlp
from eth_account import Account
from eth_utils.address import to_checksum_address

from api.errors import ApiError, Conflict, Forbidden, Gone
from api.messages import Message

MIN_GAS = 21_000
"""The intrinsic gas of any transaction: a signed limit below it can never be mined."""
TYPE_ACCESS_LIST = 1
TYPE_DYNAMIC_FEE = 2


class SignedByAnotherAccount(Forbidden):
    """The raw transaction was not signed by the terminal that sent the request."""

    slug = "signed-by-another-account"
    title = "Transaction signed by another account"


class TransactionMismatch(ApiError):
    """The raw transaction is not the prepared one (a field differs or it does not decode)."""

    status = 422
    slug = "transaction-mismatch"
    title = "Not the prepared transaction"


class RelayActionExpired(Gone):
    """No prepared transaction for this action, or its attestation's deadline has passed."""

    slug = "action-expired"
    title = "Action expired"


class AlreadyRelayed(Conflict):
    """A transaction of this action was already relayed (an action moves points once)."""

    slug = "already-relayed"
    title = "Already relayed"


@dataclass(frozen=True)
class PreparedTransaction:
    """The unsigned redeem transaction handed to the terminal, and when its attestation ends."""

    to: str
    data: str
    gas: int
    gas_price: int
    chain_id: int
    nonce: int
    expires_at: int

    def to_json(self) -> str:
        """Serialise for the `prepared_transaction` column."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PreparedTransaction:
        """Read back what `to_json` wrote."""
        return cls(**json.loads(text))

    def wire(self) -> dict[str, object]:
        """The transaction as JSON-RPC / eth_account field names (what the terminal signs)."""
        return {
            "to": self.to,
            "data": self.data,
            "value": 0,
            "gas": self.gas,
            "gasPrice": self.gas_price,
            "chainId": self.chain_id,
            "nonce": self.nonce,
        }


@dataclass(frozen=True)
class DecodedTransaction:
    """The fields of a signed raw transaction, and who signed it."""

    sender: str
    tx_type: int
    chain_id: int | None
    nonce: int
    gas: int
    gas_price: int
    max_priority_fee: int | None
    to: str | None
    value: int
    data: bytes
    access_list_empty: bool


def _int(item: bytes) -> int:
    return int.from_bytes(item, "big")


def _to(item: bytes) -> str | None:
    return to_checksum_address(item) if len(item) == 20 else None


def decode_raw(raw: bytes) -> DecodedTransaction:
    """Decode a signed legacy (EIP-155), type 1 or 2 transaction; TransactionMismatch if not."""
    try:
        sender = str(Account.recover_transaction(raw))
        if raw[0] >= 0xC0:  # an RLP list: a legacy transaction
            nonce, price, gas, to, value, data, v, _r, _s = rlp.decode(raw)
            v_int = _int(v)
            chain_id = (v_int - 35) // 2 if v_int >= 35 else None  # EIP-155
            return DecodedTransaction(
                sender, 0, chain_id, _int(nonce), _int(gas), _int(price), None, _to(to),
                _int(value), bytes(data), True,
            )  # fmt: skip
        fields = rlp.decode(raw[1:])
        if raw[0] == TYPE_ACCESS_LIST:
            chain, nonce, price, gas, to, value, data, access, _y, _r, _s = fields
            return DecodedTransaction(
                sender, 1, _int(chain), _int(nonce), _int(gas), _int(price), None, _to(to),
                _int(value), bytes(data), not access,
            )  # fmt: skip
        if raw[0] == TYPE_DYNAMIC_FEE:
            chain, nonce, tip, fee, gas, to, value, data, access, _y, _r, _s = fields
            return DecodedTransaction(
                sender, 2, _int(chain), _int(nonce), _int(gas), _int(fee), _int(tip), _to(to),
                _int(value), bytes(data), not access,
            )  # fmt: skip
    except Exception as error:  # rlp, eth_keys and eth_account each raise their own types
        raise TransactionMismatch(
            Message(
                "署名済みの取引を読み取れません。もう一度署名してください。",
                f"the raw transaction does not decode as a signed Ethereum transaction: {error}",
            )
        ) from None
    raise TransactionMismatch(
        Message(
            "この種類の取引には対応していません。",
            f"transaction type {raw[0]} is not supported: sign a legacy or type 2 transaction",
        )
    )


def _mismatch(field: str, got: object, expected: object) -> TransactionMismatch:
    return TransactionMismatch(
        Message(
            "署名された取引が用意した取引と一致しません。もう一度やり直してください。",
            f"{field} is {got}, the prepared transaction has {expected}",
        ),
        extensions={"field": field},
    )


def check_relayed(
    decoded: DecodedTransaction,
    prepared: PreparedTransaction,
    *,
    terminal: str,
    pending_nonce: int,
) -> None:
    """Raise SignedByAnotherAccount or TransactionMismatch unless `decoded` is the prepared one.

    `pending_nonce` is the terminal account's pending transaction count now (module docstring).
    """
    if decoded.sender.lower() != terminal.lower():
        raise SignedByAnotherAccount(
            Message(
                "この取引は別の端末の鍵で署名されています。",
                f"the transaction is signed by {decoded.sender}, not by terminal {terminal}",
            )
        )
    exact: list[tuple[str, object, object]] = [
        ("chainId", decoded.chain_id, prepared.chain_id),
        ("to", decoded.to and decoded.to.lower(), prepared.to.lower()),
        ("data", "0x" + decoded.data.hex(), prepared.data.lower()),
        ("value", decoded.value, 0),
        ("gasPrice", decoded.gas_price, prepared.gas_price),
        ("accessList", "non-empty" if not decoded.access_list_empty else "[]", "[]"),
    ]
    if decoded.max_priority_fee is not None:
        exact.append(("maxPriorityFeePerGas", decoded.max_priority_fee, prepared.gas_price))
    for field, got, expected in exact:
        if got != expected:
            raise _mismatch(field, got, expected)
    if not MIN_GAS <= decoded.gas <= prepared.gas:
        raise _mismatch("gas", decoded.gas, f"{MIN_GAS} to {prepared.gas}")
    if decoded.nonce != pending_nonce:
        error = _mismatch("nonce", decoded.nonce, f"{prepared.nonce}, now due {pending_nonce}")
        error.extensions["expected_nonce"] = pending_nonce
        raise error
