"""The web3.py adapter of the ledger ports: every point movement and view the API uses.

`Web3Ledger` implements `api.ports.MykeyIdLedger` and `api.ports.PointsLedger` and the further
actions of the chain side (redeem, vouchers, refunds, conversions, reserve placement, settlement
periods). It reaches the node only over JSON-RPC, builds calls with the contracts' ABIs
(contracts.client) and sends them through one `TransactionSender`, so nonces never collide.

Error contract: a ledger refusal raises the matching `ApiError` (api.chain.errors.from_revert;
`GrantRefused` for grants, `MykeyIdTaken` for registration), nothing having moved; a node that
cannot be reached raises `LedgerUnavailable`; a transaction sent but not seen final raises
`SubmissionInDoubt`. A method returns only once its transaction's receipt is final.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_typing import HexStr
from eth_utils.crypto import keccak
from requests.adapters import HTTPAdapter
from requests.exceptions import RequestException
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import TxParams

from api.chain.attestation import SignedAttestation
from api.chain.errors import LedgerRefused, from_revert
from api.chain.sender import (
    NonceConflict,
    TransactionNotFinal,
    TransactionReverted,
    TransactionSender,
)
from api.errors import (
    ApiError,
    GrantRefused,
    LedgerUnavailable,
    MykeyIdTaken,
    SubmissionInDoubt,
)
from api.identifiers import MunicipalityCode, MykeyId
from api.messages import Message
from api.ports import Points, TransactionHash
from contracts.client import LedgerClient, Sent
from contracts.domain import REGULAR_ACCOUNT, SettlementSide, TerminalKind, Use, mykey_id_bytes
from contracts.errors import LedgerRevert
from contracts.events import decode_logs

ACTIVITY_CODES = {
    "volunteering": 1,
    "event-participation": 2,
    "health-walk-rally": 3,
    "other": 9,
}
"""The on-chain activity number of each activity word of api.services.grants.ACTIVITIES."""

MEMBER_BUSINESS = 4
_T = TypeVar("_T")


RPC_CONNECTIONS = 48
"""Keep-alive connections to the node held open per API process."""
LEAN_MIDDLEWARE_DROPPED = ("validation", "ens_name_to_address")
"""web3's default middleware `connect` removes. `validation` asks the node for the chain ID twice
per eth_call (the chain side checks it once at start instead: api.chain.side.check_chain_id);
no name here is an ENS name. Measured with bench.api_split: 45.7 -> 26.5 JSON-RPC calls and
80.5 -> 53.7 ms of API CPU per redemption (with `trust_env` off as well)."""


def connect(rpc_url: str, *, timeout: float = 10.0, trust_env: bool = False) -> Web3:
    """Return a lean Web3 over HTTP JSON-RPC that accepts QBFT's long extraData.

    `trust_env` False (the default) gives the provider a requests session that ignores
    HTTP(S)_PROXY, NO_PROXY and .netrc: requests otherwise re-reads them on every call, and a
    consortium node is reached directly. True keeps requests' environment handling (a node behind
    a proxy). web3's validation and ENS middleware are removed (LEAN_MIDDLEWARE_DROPPED).
    """
    session = requests.Session()
    session.trust_env = trust_env
    # One session serves every request thread (anyio's pool has 40): keep that many connections
    # open instead of requests' 10, so a busy moment does not reconnect per call.
    adapter = HTTPAdapter(pool_maxsize=RPC_CONNECTIONS)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    provider = Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, session=session)
    w3 = Web3(provider)
    for name in LEAN_MIDDLEWARE_DROPPED:
        w3.middleware_onion.remove(name)
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def _unavailable(error: Exception) -> LedgerUnavailable:
    return LedgerUnavailable(
        Message(
            "台帳に接続できません。しばらくしてからもう一度お試しください。",
            f"The ledger cannot be reached ({type(error).__name__}). Please try again later.",
        )
    )


def _in_doubt(error: Exception) -> SubmissionInDoubt:
    return SubmissionInDoubt(
        Message(
            "取引は送信されましたが、結果をまだ確認できません。再送せずに照会してください。",
            f"The transaction was sent but is not final yet ({error}); look it up before retrying.",
        )
    )


def tx_hash_of(sent: Sent) -> TransactionHash:
    """Return the 0x hash of a sent transaction."""
    return TransactionHash("0x" + bytes(sent.receipt["transactionHash"]).hex())


@dataclass(frozen=True)
class TerminalRegistration:
    """A terminal as the Consortium contract registered it."""

    address: str
    kind: TerminalKind
    owner_kind: int
    owner_id: int


@dataclass(frozen=True)
class GrantedPoints:
    """A final grant as its `PointsGranted` event records it."""

    transaction_hash: TransactionHash
    mykey_id: str
    municipality: int
    account: int
    amount: int
    terminal: str
    expires_at: int


@dataclass(frozen=True)
class Redemption:
    """A final redemption: its on-chain id, hash and the balance left after it."""

    redemption_id: int
    transaction_hash: TransactionHash
    remaining_balance: int


@dataclass(frozen=True)
class IssuedVoucher:
    """A final voucher issue."""

    voucher_id: int
    expires_at: int
    transaction_hash: TransactionHash
    remaining_balance: int


@dataclass(frozen=True)
class ReserveView:
    """A reserve as the ledger holds it (state 1 pending, 2 placed, 3 gone home)."""

    reserve_id: int
    mykey_id: str
    home: int
    placed_in: int
    state: int
    partner: int
    deadline: int
    amount: int


@dataclass(frozen=True)
class ExpirySwept:
    """A final `sweepExpired`: what it recorded, and the block time it recorded up to."""

    transaction_hash: TransactionHash
    block_number: int
    block_timestamp: int
    expired_points: int
    expired_lots: int
    reserves_homed: int


class Web3Ledger:
    """The ledger ports over JSON-RPC, for one deployment and one sender."""

    def __init__(
        self,
        sender: TransactionSender,
        *,
        platform: str,
        granting_terminals: dict[int, str],
        treasurers: dict[int, str],
        partners: dict[int, str],
    ) -> None:
        self.sender = sender
        self.client = LedgerClient(sender.w3, sender.deployment)
        self.platform = platform
        self.granting_terminals = granting_terminals
        self.treasurers = treasurers
        self.partners = partners

    # ---- plumbing -----------------------------------------------------------------------------

    def _guard(self, action: Callable[[], _T], refused: Callable[[LedgerRevert], ApiError]) -> _T:
        try:
            return action()
        except LedgerRevert as error:
            raise refused(error) from None
        except TransactionReverted as error:
            # Mined and failed: nothing moved, but the ledger gave no reason we could recover.
            raise LedgerRefused(Message("台帳が処理を拒否しました。", str(error))) from error
        except TransactionNotFinal as error:
            raise _in_doubt(error) from error
        except NonceConflict as error:
            # Nothing was sent (another signer raced us for the nonce twice): safe to retry.
            raise _unavailable(error) from error
        except (RequestException, Web3Exception, OSError) as error:
            raise _unavailable(error) from error

    def _view(self, action: Callable[[], _T]) -> _T:
        return self._guard(action, from_revert)

    # ---- MykeyIdLedger ------------------------------------------------------------------------

    def is_mykey_id_taken(self, mykey_id: MykeyId) -> bool:
        """Return True when `mykey_id` is registered or revoked on-chain."""
        status, _home = self._view(lambda: self.client.mykey_status(mykey_id))
        return status != 0

    def register_mykey_id(
        self, *, mykey_id: MykeyId, home_municipality: MunicipalityCode
    ) -> TransactionHash:
        """Register `mykey_id` as the platform; return the final hash. MykeyIdTaken if taken."""

        def refused(error: LedgerRevert) -> ApiError:
            if error.name == "MykeyTaken":
                return MykeyIdTaken(Message("このマイキーIDは使用されています。", error.message))
            return from_revert(error)

        sent = self._guard(
            lambda: self.sender.send(
                self.platform,
                self.client.registry.functions.register(
                    mykey_id_bytes(mykey_id), int(home_municipality)
                ),
            ),
            refused,
        )
        return tx_hash_of(sent)

    def rebind_mykey_id(self, mykey_id: str) -> TransactionHash:
        """Record a card renewal for `mykey_id` as the platform (the points stay); final hash."""
        sent = self._view(
            lambda: self.sender.send(
                self.platform, self.client.registry.functions.rebind(mykey_id_bytes(mykey_id))
            )
        )
        return tx_hash_of(sent)

    # ---- PointsLedger -------------------------------------------------------------------------

    def grant_points(
        self,
        *,
        mykey_id: MykeyId,
        municipality: MunicipalityCode,
        points: Points,
        activity: str,
        reference: bytes,
    ) -> TransactionHash:
        """Grant through the municipality's granting terminal; return the final hash."""
        terminal = self.granting_terminals.get(int(municipality))
        if terminal is None:
            raise GrantRefused(
                Message(
                    "この自治体の付与端末が設定されていません。",
                    f"No granting terminal is configured for municipality {municipality}.",
                )
            )

        def refused(error: LedgerRevert) -> ApiError:
            return GrantRefused(
                Message(f"台帳が付与を拒否しました: {error.message}", error.message)
            )

        sent = self._guard(
            lambda: self.sender.send(
                terminal,
                self.client.ledger.functions.grant(
                    mykey_id_bytes(mykey_id),
                    int(municipality),
                    REGULAR_ACCOUNT,
                    int(points),
                    ACTIVITY_CODES.get(activity, ACTIVITY_CODES["other"]),
                    reference.rjust(32, b"\x00")[:32],
                ),
            ),
            refused,
        )
        return tx_hash_of(sent)

    def grant_from_terminal(
        self,
        terminal: str,
        *,
        mykey_id: str,
        municipality: int,
        account: int,
        points: int,
        activity: str,
        reference: bytes,
        refused: Callable[[LedgerRevert], ApiError] = from_revert,
    ) -> GrantedPoints:
        """Grant as the granting terminal `terminal` itself into `account`; return it once final.

        Unlike `grant_points` (the municipality's configured terminal, regular account), the
        sender is the terminal that asked; the contract checks it is a granting terminal of
        `municipality`. `refused` turns a ledger refusal into the caller's problem type.
        """
        sent = self._guard(
            lambda: self.sender.send(
                terminal,
                self.client.ledger.functions.grant(
                    mykey_id_bytes(mykey_id),
                    municipality,
                    account,
                    points,
                    ACTIVITY_CODES.get(activity, ACTIVITY_CODES["other"]),
                    reference.rjust(32, b"\x00")[:32],
                ),
            ),
            refused,
        )
        return _granted_points(tx_hash_of(sent), sent.event("PointsGranted").args)

    def points_granted(self, transaction_hash: str) -> GrantedPoints | None:
        """Return the grant a final transaction made, or None when it made none."""
        receipt = self._view(
            lambda: self.sender.w3.eth.get_transaction_receipt(HexStr(transaction_hash))
        )
        for event in decode_logs(self.sender.deployment, receipt["logs"]):
            if event.name == "PointsGranted":
                return _granted_points(TransactionHash(transaction_hash), event.args)
        return None

    def balance_in(self, mykey_id: str, municipality: int, account: int) -> int:
        """Spendable points of `mykey_id` in `account` (0 regular, else an event account)."""
        return int(self._view(lambda: self.client.balance_of(mykey_id, municipality, account)))

    # ---- views --------------------------------------------------------------------------------

    def terminal(self, address: str) -> TerminalRegistration | None:
        """Return the terminal registered at `address`, or None when it is not one."""
        kind, owner_kind, owner_id, _management = self._view(
            lambda: self.client.consortium.functions.terminal(
                Web3.to_checksum_address(address)
            ).call()
        )
        if int(kind) == 0:
            return None
        return TerminalRegistration(
            address, TerminalKind(int(kind)), int(owner_kind), int(owner_id)
        )

    def mykey_status(self, mykey_id: str) -> tuple[int, int]:
        """(status 0 none / 1 active / 2 revoked, home municipality)."""
        return self._view(lambda: self.client.mykey_status(mykey_id))

    def balance_of(self, mykey_id: str, municipality: int) -> int:
        """Spendable points of `mykey_id` in its regular account at `municipality`."""
        return int(self._view(lambda: self.client.balance_of(mykey_id, municipality)))

    def reserved_of(self, mykey_id: str) -> int:
        """Reserved points not yet placed and before their deadline."""
        return int(self._view(lambda: self.client.reserved_of(mykey_id)))

    def reserve(self, reserve_id: int) -> ReserveView:
        """Return reserve `reserve_id` (state 0 when unknown)."""
        raw = self._view(lambda: self.client.ledger.functions.reserve(reserve_id).call())
        mykey_raw, home, placed_in, state, partner, deadline, _home_expires, amount = raw
        return ReserveView(
            reserve_id=reserve_id,
            mykey_id=bytes(mykey_raw).decode("ascii", errors="replace"),
            home=int(home),
            placed_in=int(placed_in),
            state=int(state),
            partner=int(partner),
            deadline=int(deadline),
            amount=int(amount),
        )

    def pending_reserves(self, mykey_id: str) -> list[ReserveView]:
        """Reserves of `mykey_id` not yet placed (including any past their deadline)."""
        ids = self._view(
            lambda: self.client.ledger.functions.pendingReserveIds(mykey_id_bytes(mykey_id)).call()
        )
        return [self.reserve(int(i)) for i in ids]

    def voucher_municipality(self, voucher_id: int) -> int:
        """The municipality whose points a voucher carries (0 when there is no such voucher)."""
        raw = self._view(lambda: self.client.ledger.functions.voucher(voucher_id).call())
        return int(raw[1])

    def municipalities(self) -> list[int]:
        """Every admitted municipality code."""
        codes = self._view(lambda: self.client.consortium.functions.municipalityCodes().call())
        return [int(code) for code in codes]

    def accepted_uses(self, municipality: int, business: int) -> list[Use]:
        """The uses for which `business` accepts `municipality`'s points, lowest first."""
        mask = int(
            self._view(
                lambda: self.client.consortium.functions.acceptedUses(municipality, business).call()
            )
        )
        return [use for use in Use if mask & (1 << int(use))]

    def head(self) -> int:
        """The node's finalized head block number."""
        return int(self._view(lambda: self.sender.w3.eth.get_block("finalized")["number"]))

    def peer_count(self) -> int:
        """How many peers the node has."""
        return int(self._view(lambda: self.sender.w3.net.peer_count))

    # ---- two-party spending -------------------------------------------------------------------

    def redeem(self, terminal: str, signed: SignedAttestation, *, use: Use) -> Redemption:
        """Redeem as `terminal` with the platform's attestation; return it once final."""
        sent = self._view(
            lambda: self.client_send(
                terminal,
                self.client.ledger.functions.redeem(
                    signed.attestation.as_abi_tuple(), signed.signature, REGULAR_ACCOUNT, int(use)
                ),
            )
        )
        event = sent.event("PointsRedeemed")
        remaining = self.balance_of(signed.attestation.mykey_id, signed.attestation.municipality)
        return Redemption(int(event.args["redemptionId"]), tx_hash_of(sent), remaining)

    def prepare_redeem(self, terminal: str, signed: SignedAttestation, *, use: Use) -> TxParams:
        """Return the unsigned redeem transaction `redeem` would send, for the terminal to sign.

        The call is simulated first, so a refusal (e.g. overspend) raises its problem now.
        """
        return self._view(
            lambda: self.sender.prepare(
                terminal,
                self.client.ledger.functions.redeem(
                    signed.attestation.as_abi_tuple(), signed.signature, REGULAR_ACCOUNT, int(use)
                ),
            )
        )

    def relay_redemption(
        self, raw_transaction: bytes, call: TxParams, *, mykey_id: str, municipality: int
    ) -> Redemption:
        """Relay a terminal-signed redeem transaction (`call` is what it does); as `redeem`."""
        sent = self._view(lambda: self.sender.relay(raw_transaction, call))
        event = sent.event("PointsRedeemed")
        remaining = self.balance_of(mykey_id, municipality)
        return Redemption(int(event.args["redemptionId"]), tx_hash_of(sent), remaining)

    def issue_voucher(
        self, terminal: str, signed: SignedAttestation, secret: bytes
    ) -> IssuedVoucher:
        """Issue a voucher redeemable with `secret`; return it once final."""
        sent = self._view(
            lambda: self.client_send(
                terminal,
                self.client.ledger.functions.issueVoucher(
                    signed.attestation.as_abi_tuple(),
                    signed.signature,
                    REGULAR_ACCOUNT,
                    keccak(secret),
                ),
            )
        )
        event = sent.event("VoucherIssued")
        remaining = self.balance_of(signed.attestation.mykey_id, signed.attestation.municipality)
        return IssuedVoucher(
            int(event.args["voucherId"]), int(event.args["expiresAt"]), tx_hash_of(sent), remaining
        )

    def redeem_voucher(self, terminal: str, voucher_id: int, secret: bytes, *, use: Use) -> Sent:
        """Redeem voucher `voucher_id` at a point-use terminal."""
        return self._view(
            lambda: self.client_send(
                terminal, self.client.ledger.functions.redeemVoucher(voucher_id, secret, int(use))
            )
        )

    def refund(self, terminal: str, redemption_id: int, amount: int) -> Sent:
        """Refund (part of) a redemption at a point-use terminal of the same business."""
        return self._view(
            lambda: self.client_send(
                terminal, self.client.ledger.functions.refund(redemption_id, amount)
            )
        )

    # ---- conversions and reserves -------------------------------------------------------------

    def convert(self, partner: int, mykey_id: str, partner_units: int, reference: bytes) -> Sent:
        """Convert a partner's points into a reserve for `mykey_id`."""
        account = self.partners.get(partner)
        if account is None:
            raise LedgerUnavailable(
                Message(
                    "この提携事業者の鍵が設定されていません。",
                    f"No key is configured for partner {partner}.",
                )
            )
        return self._view(
            lambda: self.client_send(
                account,
                self.client.ledger.functions.convert(
                    mykey_id_bytes(mykey_id), partner_units, reference.rjust(32, b"\x00")[:32]
                ),
            )
        )

    def place_reserve(self, reserve_id: int, signed: SignedAttestation) -> Sent:
        """Place a reserve where the resident's card asked (platform + attestation)."""
        return self._view(
            lambda: self.client_send(
                self.platform,
                self.client.ledger.functions.placeReserve(
                    reserve_id, signed.attestation.as_abi_tuple(), signed.signature
                ),
            )
        )

    def sweep_reserves(self, municipality: int) -> Sent:
        """Record reserves gone home at their deadline (anyone may; the platform does)."""
        return self._view(
            lambda: self.client_send(
                self.platform, self.client.ledger.functions.sweepReserves(municipality, 64)
            )
        )

    def sweep_expired(self, mykey_id: str, municipality: int, account: int) -> ExpirySwept:
        """Record the account's expired lots (and the ID's due reserves) as the platform.

        Anyone may call `sweepExpired`; balances do not change. Returns what the final
        transaction recorded and its block time: every lot of the account expiring at or before
        that time is recorded afterwards. Raises as every ledger write does (module docstring).
        """
        sent = self._view(
            lambda: self.client_send(
                self.platform,
                self.client.ledger.functions.sweepExpired(
                    mykey_id_bytes(mykey_id), municipality, account
                ),
            )
        )
        block = self._view(lambda: self.sender.w3.eth.get_block(sent.block_number))
        expired = sent.named("PointsExpired")
        return ExpirySwept(
            transaction_hash=tx_hash_of(sent),
            block_number=sent.block_number,
            block_timestamp=int(block["timestamp"]),
            expired_points=sum(int(event.args["amount"]) for event in expired),
            expired_lots=len(expired),
            reserves_homed=len(sent.named("ReservePlaced")),
        )

    # ---- settlement ---------------------------------------------------------------------------

    def current_period(self, municipality: int) -> int:
        """The municipality's open settlement period."""
        return self._view(lambda: self.client.current_period(municipality))

    def payable_to(self, municipality: int, period: int, business: int) -> int:
        """Yen the municipality owes `business` for `period`, as the contract computes it."""
        return self._view(lambda: self.client.payable_to(municipality, period, business))

    def receivable_from(self, municipality: int, period: int, partner: int) -> int:
        """Yen `partner` owes the municipality for `period`, as the contract computes it."""
        return self._view(lambda: self.client.receivable_from(municipality, period, partner))

    def businesses_in(self, municipality: int, period: int) -> list[int]:
        """Businesses with a line in the period's statement."""
        ids = self._view(
            lambda: self.client.settlement.functions.businessesIn(municipality, period).call()
        )
        return [int(i) for i in ids]

    def partners_in(self, municipality: int, period: int) -> list[int]:
        """Partners with a line in the period's statement."""
        ids = self._view(
            lambda: self.client.settlement.functions.partnersIn(municipality, period).call()
        )
        return [int(i) for i in ids]

    def close_period(self, municipality: int, period: int) -> Sent:
        """Close the open period as the municipality's treasurer."""
        return self._view(
            lambda: self.client_send(
                self._treasurer(municipality),
                self.client.settlement.functions.closePeriod(municipality, period),
            )
        )

    def record_payment(
        self,
        municipality: int,
        period: int,
        *,
        side: SettlementSide,
        counterparty: int,
        amount: int,
        bank_reference: str,
    ) -> Sent:
        """Record the bank transfer settling one line; only the reference's hash goes on-chain."""
        return self._view(
            lambda: self.client_send(
                self._treasurer(municipality),
                self.client.settlement.functions.recordPayment(
                    municipality,
                    period,
                    int(side),
                    counterparty,
                    amount,
                    keccak(text=bank_reference),
                ),
            )
        )

    def _treasurer(self, municipality: int) -> str:
        treasurer = self.treasurers.get(municipality)
        if treasurer is None:
            raise LedgerUnavailable(
                Message(
                    "この自治体の会計担当鍵が設定されていません。",
                    f"No treasurer key is configured for municipality {municipality}.",
                )
            )
        return treasurer

    def client_send(self, sender: str, function: object) -> Sent:
        """Send a built contract function through the shared sender (nonce-managed)."""
        return self.sender.send(sender, function)  # type: ignore[arg-type]


def _granted_points(transaction_hash: TransactionHash, args: Mapping[str, Any]) -> GrantedPoints:
    return GrantedPoints(
        transaction_hash=transaction_hash,
        mykey_id=_text(args["mykeyId"]),
        municipality=int(args["municipality"]),
        account=int(args["account"]),
        amount=int(args["amount"]),
        terminal=str(args["terminal"]),
        expires_at=int(args["expiresAt"]),
    )


def _text(value: object) -> str:
    """A MyKey ID from decoded event args (contracts.events gives text; raw bytes8 also read)."""
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return str(value)
