"""Signed transactions: decode raw EIP-2718 bytes, recover the sender once, and view them.

Senders are recovered with coincurve exactly once, when a transaction is accepted (or when a block
from elsewhere is imported), and pinned on the py-evm transaction object: the `KnownSender`
classes answer `sender` from that pinned value and skip the signature re-check py-evm would do
during execution (`check_signature_validity`), so building a block recovers nothing again.

Supported types: legacy (with or without EIP-155), 1 (EIP-2930), 2 (EIP-1559), 4 (EIP-7702).
Type 3 (blobs) has no use on this ledger and is refused with `unsupported-type`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import coincurve
import rlp
from eth.abc import SignedTransactionAPI
from eth.vm.forks.berlin.transactions import AccessListTransaction
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague.transactions import (
    PragueLegacyTransaction,
    PragueTypedTransaction,
    SetCodeTransaction,
)
from eth_hash.auto import keccak

from node.ports import AccessListEntry, Address, Hash32, TransactionView, TxRejected
from node.seals import SECP256K1_N, address_of

LEGACY = 0
ACCESS_LIST = 1
DYNAMIC_FEE = 2
BLOB = 3
SET_CODE = 4
MAX_TRANSACTION_BYTES = 128 * 1024
"""Larger raw transactions are refused as `oversized` (geth's txMaxSize)."""

TX_BASE_GAS = 21000
FLOOR_GAS_PER_TOKEN = 10  # EIP-7623 TOTAL_COST_FLOOR_PER_TOKEN
TOKENS_PER_NONZERO_BYTE = 4  # EIP-7623 STANDARD_TOKEN_COST


class _KnownSender:
    """Mixin: a transaction whose sender was recovered once and pinned."""

    _known_sender: bytes | None = None

    def get_sender(self) -> bytes:
        known = self._known_sender
        if known is None:
            return cast(bytes, super().get_sender())  # type: ignore[misc]
        return known

    def check_signature_validity(self) -> None:
        if self._known_sender is None:
            super().check_signature_validity()  # type: ignore[misc]


class KnownSenderLegacyTransaction(_KnownSender, PragueLegacyTransaction):  # type: ignore[misc]
    """A legacy transaction with a pinned sender."""


class KnownSenderAccessListTransaction(_KnownSender, AccessListTransaction):  # type: ignore[misc]
    """An EIP-2930 payload with a pinned sender."""


class KnownSenderDynamicFeeTransaction(_KnownSender, DynamicFeeTransaction):  # type: ignore[misc]
    """An EIP-1559 payload with a pinned sender."""


class KnownSenderSetCodeTransaction(_KnownSender, SetCodeTransaction):  # type: ignore[misc]
    """An EIP-7702 payload with a pinned sender."""


class KnownSenderTypedTransaction(_KnownSender, PragueTypedTransaction):  # type: ignore[misc]
    """The EIP-2718 envelope with a pinned sender."""


_PAYLOAD_CLASSES: dict[int, type[Any]] = {
    ACCESS_LIST: KnownSenderAccessListTransaction,
    DYNAMIC_FEE: KnownSenderDynamicFeeTransaction,
    SET_CODE: KnownSenderSetCodeTransaction,
}


@dataclass(frozen=True)
class SignedTransaction:
    """A decoded transaction with its raw bytes, hash and once-recovered sender."""

    raw: bytes
    hash: Hash32
    sender: Address
    tx: SignedTransactionAPI

    @property
    def type(self) -> int:
        """The EIP-2718 type (0 for legacy)."""
        return LEGACY if self.raw[0] >= 0xC0 else self.raw[0]

    @property
    def nonce(self) -> int:
        """The sender's nonce this transaction uses."""
        return int(self.tx.nonce)

    @property
    def gas(self) -> int:
        """The gas limit."""
        return int(self.tx.gas)

    @property
    def fee_cap(self) -> int:
        """The most per gas it may pay: gas_price, or max_fee_per_gas for EIP-1559 types."""
        return int(self.tx.max_fee_per_gas)

    @property
    def tip_cap(self) -> int:
        """The most tip per gas: gas_price, or max_priority_fee_per_gas."""
        return int(self.tx.max_priority_fee_per_gas)


def legacy_chain_id(v: int) -> int | None:
    """Return the EIP-155 chain id encoded in a legacy v, or None when unprotected (27/28)."""
    if v in (27, 28):
        return None
    if v >= 35:
        return (v - 35) // 2
    raise TxRejected("invalid-signature", f"legacy transaction has an invalid v value {v}")


def _recovery_id(tx: Any, type_id: int) -> int:
    if type_id == LEGACY:
        v = int(tx.v)
        return (v - 27) if v in (27, 28) else (v - 35) % 2
    return int(tx.y_parity)


def _decode(raw: bytes) -> tuple[int, Any, Any]:
    """Return (type, envelope, payload) for raw bytes; raise TxRejected."""
    if not raw:
        raise TxRejected("invalid-rlp", "empty transaction bytes")
    if len(raw) > MAX_TRANSACTION_BYTES:
        raise TxRejected(
            "oversized", f"transaction is {len(raw)} bytes; the limit is {MAX_TRANSACTION_BYTES}"
        )
    first = raw[0]
    try:
        if first >= 0xC0:
            legacy = rlp.decode(raw, sedes=KnownSenderLegacyTransaction)
            return LEGACY, legacy, legacy
        if first == BLOB:
            raise TxRejected("unsupported-type", "blob transactions (type 3) are not supported")
        payload_class = _PAYLOAD_CLASSES.get(first)
        if payload_class is None:
            raise TxRejected("unsupported-type", f"transaction type {first} is not supported")
        payload = rlp.decode(raw[1:], sedes=payload_class)
        return first, KnownSenderTypedTransaction(first, payload), payload
    except (rlp.exceptions.DecodingError, rlp.exceptions.DeserializationError) as error:
        raise TxRejected("invalid-rlp", f"transaction is not valid RLP: {error}") from error


def decode_transaction(raw: bytes, expected_chain_id: int) -> SignedTransaction:
    """Decode raw bytes, check the chain id and signature, recover and pin the sender.

    Raises TxRejected with reason invalid-rlp, oversized, unsupported-type, wrong-chain-id or
    invalid-signature. Unprotected legacy transactions (v = 27/28) are accepted, as Besu does.
    """
    raw = bytes(raw)
    type_id, envelope, payload = _decode(raw)
    if type_id == LEGACY:
        chain_id = legacy_chain_id(int(envelope.v))
    else:
        chain_id = int(payload.chain_id)
        if int(payload.y_parity) not in (0, 1):
            raise TxRejected("invalid-signature", "y_parity must be 0 or 1")
    if chain_id is not None and chain_id != expected_chain_id:
        raise TxRejected(
            "wrong-chain-id",
            f"transaction is for chain id {chain_id}; this chain's id is {expected_chain_id}",
        )
    r, s = int(envelope.r), int(envelope.s)
    if not (0 < r < SECP256K1_N) or not (0 < s <= SECP256K1_N // 2):
        raise TxRejected("invalid-signature", "signature r or s out of range (EIP-2 low s)")
    message_hash = keccak(envelope.get_message_for_signing())
    signature = (
        r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([_recovery_id(envelope, type_id)])
    )
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature, message_hash, hasher=None
        )
    except ValueError as error:
        raise TxRejected("invalid-signature", f"signature does not recover: {error}") from error
    sender = Address(address_of(public_key))
    payload._known_sender = sender
    envelope._known_sender = sender
    return SignedTransaction(raw=raw, hash=Hash32(keccak(raw)), sender=sender, tx=envelope)


def pin_sender(raw: bytes, sender: bytes) -> SignedTransaction:
    """Decode stored raw bytes whose sender is already known (a persisted body or pool entry)."""
    _, envelope, payload = _decode(bytes(raw))
    payload._known_sender = bytes(sender)
    envelope._known_sender = bytes(sender)
    return SignedTransaction(
        raw=bytes(raw), hash=Hash32(keccak(raw)), sender=Address(bytes(sender)), tx=envelope
    )


def floor_gas(data: bytes) -> int:
    """Return the EIP-7623 calldata floor: 21000 + 10 * (zero bytes + 4 * non-zero bytes)."""
    zeros = data.count(0)
    tokens = zeros + (len(data) - zeros) * TOKENS_PER_NONZERO_BYTE
    return TX_BASE_GAS + FLOOR_GAS_PER_TOKEN * tokens


def required_gas(signed: SignedTransaction) -> int:
    """Return the least gas limit the transaction may carry (intrinsic gas and EIP-7623 floor)."""
    return max(int(signed.tx.intrinsic_gas), floor_gas(bytes(signed.tx.data)))


def transaction_view(
    signed: SignedTransaction,
    block_hash: bytes | None = None,
    block_number: int | None = None,
    index: int | None = None,
) -> TransactionView:
    """Return the ports.TransactionView of a transaction, placed in a block when given."""
    tx: Any = signed.tx  # legacy and typed transactions expose different attributes
    type_id = signed.type
    to = bytes(tx.to)
    if type_id == LEGACY:
        chain_id = legacy_chain_id(int(tx.v))
        v = int(tx.v)
        gas_price: int | None = int(tx.gas_price)
        max_fee: int | None = None
        max_tip: int | None = None
        access_list: tuple[AccessListEntry, ...] = ()
    else:
        chain_id = int(tx.chain_id)
        v = int(tx.y_parity)
        gas_price = int(tx.gas_price) if type_id == ACCESS_LIST else None
        max_fee = None if type_id == ACCESS_LIST else int(tx.max_fee_per_gas)
        max_tip = None if type_id == ACCESS_LIST else int(tx.max_priority_fee_per_gas)
        access_list = tuple(
            AccessListEntry(
                Address(bytes(address)),
                tuple(Hash32(int(slot).to_bytes(32, "big")) for slot in slots),
            )
            for address, slots in tx.access_list
        )
    return TransactionView(
        hash=signed.hash,
        type=type_id,
        chain_id=chain_id,
        nonce=int(tx.nonce),
        sender=signed.sender,
        to=Address(to) if to else None,
        value=int(tx.value),
        gas=int(tx.gas),
        gas_price=gas_price,
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=max_tip,
        input=bytes(tx.data),
        access_list=access_list,
        v=v,
        r=int(tx.r),
        s=int(tx.s),
        block_hash=Hash32(block_hash) if block_hash is not None else None,
        block_number=block_number,
        transaction_index=index,
    )
