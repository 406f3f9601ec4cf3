"""Reverts of the point ledger, decoded into sentences a person can act on.

Every custom error of contracts/src/Errors.sol has a template here; `decode_revert` turns raw
revert data (a custom error, `Error(string)` or `Panic(uint256)`) into a `LedgerRevert` carrying
the error's name, its decoded arguments and the sentence. The API shows the sentence; tests
assert on the name. An error without a template still decodes, with a generic sentence.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi.abi import decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from contracts.artifacts import all_error_abis
from contracts.domain import TerminalKind, Use, format_code

MESSAGES: dict[str, str] = {
    "NotPlatform": "{caller} is not a platform operator account",
    "NotMemberAdmin": "{caller} is not the admin account of a consortium member",
    "NotMunicipalityStaff": "{caller} is not an admin account of municipality {municipality}",
    "NotTreasurer": "{caller} is not a treasurer account of municipality {municipality}",
    "NotPartnerAccount": "{caller} is not an account of a partner company",
    "NotLedger": "{caller} is not the point ledger; only the ledger records settlement amounts",
    "AccountTaken": "{account} already belongs to a member or is a terminal; use a new key",
    "UnknownAccount": "{account} is not an account of this member",
    "InvalidMunicipalityCode": (
        "municipality code {code!r} is invalid: give 5 digits (prefecture 01-47) or 6 digits "
        "with the correct check digit"
    ),
    "MunicipalityNotAdmitted": "municipality {municipality} is not a member of the consortium",
    "MunicipalityAlreadyAdmitted": "municipality {municipality} is already a member",
    "PartnerNotAdmitted": "partner {partner} is not a member of the consortium",
    "BusinessNotAdmitted": "business {business} is not a member of the consortium",
    "InvalidRate": "conversion rate {numerator}/{denominator} is invalid: both must be above 0",
    "InvalidSetting": "setting {setting!r} is out of range",
    "AlreadyWired": "{what} is already connected and cannot be replaced",
    "TerminalTaken": "{terminal} is already registered as a terminal; use a new terminal key",
    "UnregisteredTerminal": (
        "{terminal} is not a registered terminal; its member must register it first"
    ),
    "WrongTerminalKind": (
        "terminal {terminal} is a {actual} terminal; this action needs a {expected} terminal"
    ),
    "TerminalKindNotAllowed": "a {memberKind} member cannot register a {terminalKind} terminal",
    "TerminalOfAnotherMember": (
        "terminal {terminal} belongs to {ownerKind} {ownerId}, not to the member acting here"
    ),
    "ManagementTerminalExists": (
        "municipality {municipality} already has its management terminal {existing}; "
        "register further granting terminals as mobile ones"
    ),
    "InvalidUse": "use {use} is not one of the uses points may be put to",
    "BusinessNotAccepted": (
        "business {business} is not accepted by municipality {municipality} for {use}; "
        "the municipality decides which businesses take its points"
    ),
    "EventAccountUnknown": "municipality {municipality} has no event account {account}",
    "EventAccountClosed": (
        "event account {account} of municipality {municipality} is open only from "
        "{startsAt} to {endsAt} (Unix time)"
    ),
    "UseNotAllowedInEventAccount": (
        "event account {account} of municipality {municipality} does not allow {use}"
    ),
    "InvalidMykeyId": "MyKey ID {mykeyId!r} must be 8 half-width upper-case letters or digits",
    "MykeyTaken": "MyKey ID {mykeyId} is already registered; choose another",
    "MykeyUnknown": "MyKey ID {mykeyId} is not registered",
    "MykeyRevoked": "MyKey ID {mykeyId} is revoked; its points cannot move until it is re-bound",
    "MunicipalityPaused": (
        "municipality {municipality} is paused; no points move there until it resumes"
    ),
    "ZeroAmount": "the amount must be at least 1 point",
    "InsufficientPoints": (
        "MyKey ID {mykeyId} has {available} points in account {account} of municipality "
        "{municipality}; {requested} were asked for"
    ),
    "OverBudget": (
        "granting {requested} points would exceed municipality {municipality}'s budget of {cap} "
        "for fiscal year {fiscalYear} ({alreadyGranted} already granted)"
    ),
    "TooManyPendingReserves": (
        "MyKey ID {mykeyId} already has {limit} reserved conversions waiting; place them first"
    ),
    "ReserveUnknown": "there is no reserve {reserveId}",
    "ReserveNotPending": "reserve {reserveId} was already placed; conversion is one-way",
    "ReserveDeadlinePassed": (
        "reserve {reserveId} passed its deadline {deadline} and now belongs to the home "
        "municipality"
    ),
    "ConversionsNotAccepted": "municipality {municipality} does not accept converted points",
    "AttestationExpired": (
        "the platform attestation expired at {deadline} (block time {blockTime}); "
        "ask the resident to confirm with the card again"
    ),
    "AttestationNonceUsed": "this attestation (nonce {nonce}) was already used; each is single-use",
    "AttestationMismatch": "the attestation's {field} does not match this action",
    "UnknownVerifier": "the attestation is not signed by a platform verifier key (signer {signer})",
    "RedemptionUnknown": "there is no redemption {redemptionId}",
    "RefundWrongBusiness": (
        "redemption {redemptionId} was not made at business {business}; "
        "only that business refunds it"
    ),
    "RefundWindowPassed": (
        "redemption {redemptionId} could be refunded only until {until} (Unix time)"
    ),
    "RefundExceedsRedemption": (
        "redemption {redemptionId} has {refundable} points left to refund; "
        "{requested} were asked for"
    ),
    "VoucherUnknown": "there is no voucher {voucherId}",
    "VoucherAlreadyRedeemed": "voucher {voucherId} was already redeemed",
    "VoucherExpired": "voucher {voucherId} expired at {expiresAt} (Unix time)",
    "VoucherSecretMismatch": "the code presented does not belong to voucher {voucherId}",
    "PeriodNotClosed": "settlement period {period} of municipality {municipality} is not closed",
    "PeriodAlreadyClosed": (
        "settlement period {period} of municipality {municipality} is closed and cannot change"
    ),
    "ReservesDue": (
        "municipality {municipality} still has reserves due home; call sweepReserves, then close"
    ),
    "PaymentAlreadyRecorded": (
        "a payment for counterparty {counterparty} in period {period} of municipality "
        "{municipality} is already recorded"
    ),
    "PaymentMismatch": "the payment of {paid} yen does not equal the {due} yen due",
    # OpenZeppelin's proxy and initialisation errors (upgrades).
    "InvalidInitialization": "this contract is already initialised (or is an implementation)",
    "NotInitializing": "this function may only run while the contract is being initialised",
    "UUPSUnauthorizedCallContext": "upgrades go through the proxy, not the implementation",
    "UUPSUnsupportedProxiableUUID": "the new implementation is not a UUPS implementation",
    "ERC1967InvalidImplementation": "{implementation} has no code: deploy the implementation first",
    "ERC1967NonPayable": "the upgrade call must not carry value",
    "ERC1967ProxyUninitialized": "the proxy was created without an initialisation call",
    "AddressEmptyCode": "{target} has no code",
    "FailedCall": "a call inside the contract failed",
    "InvalidShortString": "a short string is not valid",
    "StringTooLong": "the string {str!r} is too long",
}

_PANICS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x32: "array index out of bounds",
}

_ERROR_STRING = function_signature_to_4byte_selector("Error(string)")
_PANIC = function_signature_to_4byte_selector("Panic(uint256)")


class LedgerRevert(Exception):
    """A ledger contract refused an action. `name` is the Solidity error, `args` its arguments."""

    def __init__(self, name: str, args: dict[str, Any], message: str) -> None:
        super().__init__(message)
        self.name = name
        self.args_by_name = args
        self.message = message


_MEMBER_KINDS = ("unknown", "platform", "municipality", "partner", "business")


def _kind_name(value: int, names: tuple[str, ...]) -> str | int:
    return names[value] if 0 <= value < len(names) else value


def _readable(name: str, value: Any, abi_type: str) -> Any:
    """Return an argument as a person reads it: IDs as text, codes as 5 digits, kinds named."""
    if abi_type == "bytes8" and isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    if abi_type == "bytes32" and isinstance(value, bytes):
        return "0x" + value.hex()
    if abi_type == "address":
        return to_checksum_address(value)
    if not isinstance(value, int):
        return value
    terminal_kinds = tuple(kind.name.lower().replace("_", " ") for kind in TerminalKind)
    uses = tuple(use.name.lower().replace("_", " ") for use in Use)
    converters: dict[str, Any] = {
        "municipality": format_code,
        "expected": lambda v: _kind_name(v, terminal_kinds),
        "actual": lambda v: _kind_name(v, terminal_kinds),
        "terminalKind": lambda v: _kind_name(v, terminal_kinds),
        "memberKind": lambda v: _kind_name(v, _MEMBER_KINDS),
        "ownerKind": lambda v: _kind_name(v, _MEMBER_KINDS),
        "use": lambda v: _kind_name(v, uses),
    }
    convert = converters.get(name)
    return convert(value) if convert else value


@cache
def _selectors() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for item in all_error_abis():
        types = [i["type"] for i in item["inputs"]]
        names = [i["name"] for i in item["inputs"]]
        selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
        table[selector] = (item["name"], types, names)
    return table


def decode_revert(data: bytes) -> LedgerRevert:
    """Return the LedgerRevert that revert `data` encodes (never raises on unknown data)."""
    selector, body = data[:4], data[4:]
    if selector == _ERROR_STRING:
        (reason,) = decode(["string"], body)
        return LedgerRevert("Error", {"reason": reason}, str(reason))
    if selector == _PANIC:
        (code,) = decode(["uint256"], body)
        return LedgerRevert(
            "Panic", {"code": code}, f"contract panic: {_PANICS.get(code, hex(code))}"
        )
    known = _selectors().get(selector)
    if known is None:
        return LedgerRevert(
            "Unknown", {"data": data.hex()}, f"the ledger refused (revert data 0x{data.hex()})"
        )
    name, types, names = known
    values = decode(types, body)
    args = {n: _readable(n, v, t) for n, v, t in zip(names, values, types, strict=True)}
    template = MESSAGES.get(name)
    message = template.format(**args) if template else f"the ledger refused: {name} {args}"
    return LedgerRevert(name, args, message)
