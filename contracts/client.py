"""Typed helpers over the deployed ledger: one method per action, views, decoded events.

`LedgerClient(w3, deployment)` builds each call, sends it from the given key (see
contracts.transactions: simulate first, so a refusal is a readable `LedgerRevert`), and returns
a `Sent` with the receipt and the decoded events. The API and the tests use this; nothing here
holds keys beyond the call that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from contracts.artifacts import load_artifact
from contracts.attestation import Attestation, sign_attestation
from contracts.deploy import Deployment
from contracts.domain import (
    REGULAR_ACCOUNT,
    MunicipalityCode,
    Points,
    Role,
    SettlementSide,
    TerminalKind,
    Use,
    mykey_id_bytes,
)
from contracts.events import LedgerEvent, decode_logs
from contracts.transactions import send_call


class MissingEvent(LookupError):
    """A transaction succeeded but did not emit the event its result is read from."""


@dataclass(frozen=True)
class Sent:
    """A mined, successful transaction and the ledger events it emitted."""

    receipt: TxReceipt
    events: list[LedgerEvent]

    @property
    def gas_used(self) -> int:
        """Gas the transaction used."""
        return int(self.receipt["gasUsed"])

    @property
    def block_number(self) -> int:
        """The block it was mined in."""
        return int(self.receipt["blockNumber"])

    def event(self, name: str) -> LedgerEvent:
        """Return the first event called `name`; raises MissingEvent."""
        for event in self.events:
            if event.name == name:
                return event
        raise MissingEvent(
            f"the transaction emitted no {name} (it emitted {[e.name for e in self.events]})"
        )

    def named(self, name: str) -> list[LedgerEvent]:
        """Return every event called `name`, in log order."""
        return [event for event in self.events if event.name == name]


class LedgerClient:
    """The four ledger contracts of one deployment, as typed Python calls."""

    def __init__(self, w3: Web3, deployment: Deployment, *, gas_limit: int | None = None) -> None:
        """`gas_limit` fixes every transaction's gas (skipping estimation); None estimates each."""
        self.w3 = w3
        self.deployment = deployment
        self.gas_limit = gas_limit
        self.consortium = self._contract("Consortium")
        self.registry = self._contract("MykeyRegistry")
        self.ledger = self._contract("PointLedger")
        self.settlement = self._contract("Settlement")

    def _contract(self, name: str) -> Contract:
        return self.w3.eth.contract(
            address=self.deployment.address_of(name), abi=load_artifact(name).abi
        )

    def send(self, key: str | bytes, function: ContractFunction) -> Sent:
        """Send `function` from `key`; raises LedgerRevert with a readable message when refused."""
        receipt = send_call(self.w3, key, function, gas=self.gas_limit)
        return Sent(receipt, decode_logs(self.deployment, receipt["logs"]))

    # ---- platform operator ------------------------------------------------------------------

    def set_verifier(self, platform_key: str | bytes, verifier: str, enabled: bool = True) -> Sent:
        """Register (or remove) a platform verifier key that signs attestations."""
        return self.send(
            platform_key,
            self.consortium.functions.setVerifier(to_checksum_address(verifier), enabled),
        )

    def set_platform_account(
        self, platform_key: str | bytes, account: str, enabled: bool = True
    ) -> Sent:
        """Add or remove a platform operator account."""
        return self.send(
            platform_key,
            self.consortium.functions.setPlatformAccount(to_checksum_address(account), enabled),
        )

    def admit_municipality(
        self,
        platform_key: str | bytes,
        code: str,
        admin: str,
        *,
        validity_days: int = 365,
        voucher_validity_days: int = 180,
        refund_window_seconds: int = 7 * 86_400,
        accepts_conversions: bool = True,
    ) -> MunicipalityCode:
        """Admit a municipality by code ("14130" or "141305"); return its 5-digit code."""
        sent = self.send(
            platform_key,
            self.consortium.functions.admitMunicipality(
                code,
                to_checksum_address(admin),
                validity_days,
                voucher_validity_days,
                refund_window_seconds,
                accepts_conversions,
            ),
        )
        return MunicipalityCode(int(sent.event("MunicipalityAdmitted").args["municipality"]))

    def admit_partner(
        self,
        platform_key: str | bytes,
        name: str,
        admin: str,
        *,
        rate_numerator: int = 1,
        rate_denominator: int = 1,
    ) -> int:
        """Admit a partner converting at numerator/denominator points per unit; return its id."""
        sent = self.send(
            platform_key,
            self.consortium.functions.admitPartner(
                name, to_checksum_address(admin), rate_numerator, rate_denominator
            ),
        )
        return int(sent.event("PartnerAdmitted").args["partner"])

    def set_partner_rate(
        self, platform_key: str | bytes, partner: int, numerator: int, denominator: int
    ) -> Sent:
        """Change a partner's conversion rate."""
        return self.send(
            platform_key, self.consortium.functions.setPartnerRate(partner, numerator, denominator)
        )

    def admit_business(self, platform_key: str | bytes, name: str, admin: str) -> int:
        """Admit a business (library, museum, store, transport operator ...); return its id."""
        sent = self.send(
            platform_key, self.consortium.functions.admitBusiness(name, to_checksum_address(admin))
        )
        return int(sent.event("BusinessAdmitted").args["business"])

    def set_reserve_period(self, platform_key: str | bytes, seconds: int) -> Sent:
        """Set how long converted points stay reserved before going home (default 14 days)."""
        return self.send(platform_key, self.consortium.functions.setReservePeriod(seconds))

    def set_node_allowed(
        self, platform_key: str | bytes, node_key_address: str, allowed: bool = True
    ) -> Sent:
        """Allow (or disallow) a node identity on the network permission list."""
        return self.send(
            platform_key,
            self.consortium.functions.setNodeAllowed(
                to_checksum_address(node_key_address), allowed
            ),
        )

    # ---- members ----------------------------------------------------------------------------

    def set_member_account(self, admin_key: str | bytes, account: str, roles: Role) -> Sent:
        """A member admin adds one of its own accounts with `roles`."""
        return self.send(
            admin_key,
            self.consortium.functions.setMemberAccount(to_checksum_address(account), int(roles)),
        )

    def register_terminal(
        self, admin_key: str | bytes, terminal: str, kind: TerminalKind, *, management: bool = False
    ) -> Sent:
        """A member admin registers one of its own terminals."""
        return self.send(
            admin_key,
            self.consortium.functions.registerTerminal(
                to_checksum_address(terminal), int(kind), management
            ),
        )

    def deregister_terminal(self, admin_key: str | bytes, terminal: str) -> Sent:
        """A member admin removes one of its own terminals."""
        return self.send(
            admin_key, self.consortium.functions.deregisterTerminal(to_checksum_address(terminal))
        )

    def set_municipality_settings(
        self,
        admin_key: str | bytes,
        municipality: int,
        *,
        validity_days: int,
        voucher_validity_days: int,
        refund_window_seconds: int,
        accepts_conversions: bool,
    ) -> Sent:
        """A municipality admin changes its point settings."""
        return self.send(
            admin_key,
            self.consortium.functions.setMunicipalitySettings(
                municipality,
                validity_days,
                voucher_validity_days,
                refund_window_seconds,
                accepts_conversions,
            ),
        )

    def set_business_acceptance(
        self, admin_key: str | bytes, municipality: int, business: int, uses: int
    ) -> Sent:
        """A municipality admin lets `business` accept its points for `uses` (a uses_mask)."""
        return self.send(
            admin_key, self.consortium.functions.setBusinessAcceptance(municipality, business, uses)
        )

    def open_event_account(
        self, admin_key: str | bytes, municipality: int, starts_at: int, ends_at: int, uses: int
    ) -> int:
        """A municipality opens a special support event account; return its account number."""
        sent = self.send(
            admin_key,
            self.consortium.functions.openEventAccount(municipality, starts_at, ends_at, uses),
        )
        return int(sent.event("EventAccountOpened").args["account"])

    def set_grant_budget(
        self, admin_key: str | bytes, municipality: int, fiscal_year: int, cap: int | None
    ) -> Sent:
        """Cap (or, with None, uncap) the points a municipality may grant in a fiscal year."""
        return self.send(
            admin_key,
            self.consortium.functions.setGrantBudget(
                municipality, fiscal_year, cap is not None, cap or 0
            ),
        )

    def set_paused(self, key: str | bytes, municipality: int, paused: bool) -> Sent:
        """Pause or resume every point movement of one municipality (platform or its admin)."""
        return self.send(key, self.consortium.functions.setPaused(municipality, paused))

    # ---- MyKey registry ---------------------------------------------------------------------

    def register_mykey(self, platform_key: str | bytes, mykey_id: str, home: int) -> Sent:
        """Register a MyKey ID with its home municipality (platform only)."""
        return self.send(
            platform_key, self.registry.functions.register(mykey_id_bytes(mykey_id), home)
        )

    def rebind_mykey(self, platform_key: str | bytes, mykey_id: str) -> Sent:
        """Record a re-binding after a certificate renewal: same ID, same points, active."""
        return self.send(platform_key, self.registry.functions.rebind(mykey_id_bytes(mykey_id)))

    def revoke_mykey(self, platform_key: str | bytes, mykey_id: str) -> Sent:
        """Revoke a MyKey ID: its points stop moving."""
        return self.send(platform_key, self.registry.functions.revoke(mykey_id_bytes(mykey_id)))

    def set_home(self, platform_key: str | bytes, mykey_id: str, home: int) -> Sent:
        """Change a MyKey ID's home municipality (future conversions go home there)."""
        return self.send(
            platform_key, self.registry.functions.setHome(mykey_id_bytes(mykey_id), home)
        )

    # ---- points -----------------------------------------------------------------------------

    def grant(
        self,
        terminal_key: str | bytes,
        mykey_id: str,
        municipality: int,
        amount: int,
        *,
        activity: int,
        reference: bytes = b"\x00" * 32,
        account: int = REGULAR_ACCOUNT,
    ) -> Sent:
        """Grant administrative points from a granting terminal; `reference` is a 32-byte hash."""
        return self.send(
            terminal_key,
            self.ledger.functions.grant(
                mykey_id_bytes(mykey_id), municipality, account, amount, activity, reference
            ),
        )

    def convert(
        self,
        partner_key: str | bytes,
        mykey_id: str,
        partner_units: int,
        *,
        reference: bytes = b"\x00" * 32,
    ) -> int:
        """A partner converts its points into reserved points; return the reserve id."""
        sent = self.send(
            partner_key,
            self.ledger.functions.convert(mykey_id_bytes(mykey_id), partner_units, reference),
        )
        return int(sent.event("PointsConverted").args["reserveId"])

    def sign(self, verifier_key: str | bytes, attestation: Attestation) -> bytes:
        """Sign `attestation` for this deployment's PointLedger (chain ID and proxy address)."""
        return sign_attestation(
            verifier_key,
            attestation,
            chain_id=self.deployment.chain_id,
            verifying_contract=self.deployment.ledger,
        )

    def place_reserve(
        self, platform_key: str | bytes, reserve_id: int, attestation: Attestation, signature: bytes
    ) -> Sent:
        """The platform places a reserve where the resident's card asked (attested)."""
        return self.send(
            platform_key,
            self.ledger.functions.placeReserve(reserve_id, attestation.as_abi_tuple(), signature),
        )

    def redeem(
        self,
        terminal_key: str | bytes,
        attestation: Attestation,
        signature: bytes,
        *,
        use: Use,
        account: int = REGULAR_ACCOUNT,
    ) -> Sent:
        """Redeem points at a point-use terminal (two-party)."""
        return self.send(
            terminal_key,
            self.ledger.functions.redeem(attestation.as_abi_tuple(), signature, account, int(use)),
        )

    def refund(self, terminal_key: str | bytes, redemption_id: int, amount: int) -> Sent:
        """Refund (part of) a redemption at a point-use terminal of the same business."""
        return self.send(terminal_key, self.ledger.functions.refund(redemption_id, amount))

    def issue_voucher(
        self,
        terminal_key: str | bytes,
        attestation: Attestation,
        signature: bytes,
        secret: bytes,
        *,
        account: int = REGULAR_ACCOUNT,
    ) -> Sent:
        """Issue a voucher; `secret` (32 bytes, printed on it) is what redeems it."""
        return self.send(
            terminal_key,
            self.ledger.functions.issueVoucher(
                attestation.as_abi_tuple(), signature, account, keccak(secret)
            ),
        )

    def redeem_voucher(
        self, terminal_key: str | bytes, voucher_id: int, secret: bytes, *, use: Use
    ) -> Sent:
        """Redeem a voucher at a point-use terminal of an accepting business."""
        return self.send(
            terminal_key, self.ledger.functions.redeemVoucher(voucher_id, secret, int(use))
        )

    def sweep_expired(
        self, key: str | bytes, mykey_id: str, municipality: int, account: int = REGULAR_ACCOUNT
    ) -> Sent:
        """Emit the expiry events of one account (anyone may call)."""
        return self.send(
            key, self.ledger.functions.sweepExpired(mykey_id_bytes(mykey_id), municipality, account)
        )

    def sweep_reserves(self, key: str | bytes, municipality: int, max_steps: int = 64) -> Sent:
        """Record reserves gone home at their deadline (anyone may call)."""
        return self.send(key, self.ledger.functions.sweepReserves(municipality, max_steps))

    # ---- settlement -------------------------------------------------------------------------

    def close_period(self, treasurer_key: str | bytes, municipality: int, period: int) -> Sent:
        """A treasurer closes the open settlement period; its statement becomes final."""
        return self.send(treasurer_key, self.settlement.functions.closePeriod(municipality, period))

    def record_payment(
        self,
        treasurer_key: str | bytes,
        municipality: int,
        period: int,
        *,
        side: SettlementSide,
        counterparty: int,
        amount: int,
        bank_reference: str,
    ) -> Sent:
        """Record the bank transfer settling one line; only its reference's hash goes on-chain."""
        return self.send(
            treasurer_key,
            self.settlement.functions.recordPayment(
                municipality, period, int(side), counterparty, amount, keccak(text=bank_reference)
            ),
        )

    # ---- views ------------------------------------------------------------------------------

    def balance_of(
        self, mykey_id: str, municipality: int, account: int = REGULAR_ACCOUNT
    ) -> Points:
        """Points spendable now (expired lots excluded, due reserves included)."""
        return Points(
            int(
                self.ledger.functions.balanceOf(
                    mykey_id_bytes(mykey_id), municipality, account
                ).call()
            )
        )

    def reserved_of(self, mykey_id: str) -> Points:
        """Reserved points not yet placed and before their deadline."""
        return Points(int(self.ledger.functions.reservedOf(mykey_id_bytes(mykey_id)).call()))

    def totals_of(self, municipality: int) -> dict[str, int]:
        """Recorded totals per municipality (lazy homing and expiry count once recorded).

        Keys: granted, converted, redeemed, refunded, vouchered, expired, vouchersRedeemed.
        """
        values = self.ledger.functions.totalsOf(municipality).call()
        names = (
            "granted",
            "converted",
            "redeemed",
            "refunded",
            "vouchered",
            "expired",
            "vouchersRedeemed",
        )
        return dict(zip(names, (int(v) for v in values), strict=True))

    def lots_of(
        self, mykey_id: str, municipality: int, account: int = REGULAR_ACCOUNT
    ) -> list[tuple[int, int]]:
        """(expiresAt, amount) of each stored lot, earliest first (expired ones until swept)."""
        raw = self.ledger.functions.lotsOf(mykey_id_bytes(mykey_id), municipality, account).call()
        return [(int(expires_at), int(amount)) for expires_at, amount in raw]

    def mykey_status(self, mykey_id: str) -> tuple[int, int]:
        """(status 0 none / 1 active / 2 revoked, home municipality)."""
        status, home = self.registry.functions.statusOf(mykey_id_bytes(mykey_id)).call()
        return int(status), int(home)

    def current_period(self, municipality: int) -> int:
        """The municipality's open settlement period."""
        return int(self.settlement.functions.currentPeriod(municipality).call())

    def payable_to(self, municipality: int, period: int, business: int) -> int:
        """Yen the municipality owes the business for the period."""
        return int(self.settlement.functions.payableTo(municipality, period, business).call())

    def receivable_from(self, municipality: int, period: int, partner: int) -> int:
        """Yen the partner owes the municipality for the period."""
        return int(self.settlement.functions.receivableFrom(municipality, period, partner).call())

    def period_totals(self, municipality: int, period: int) -> dict[str, int]:
        """Statement totals: redeemed, refunded, vouchersRedeemed, conversions."""
        values = self.settlement.functions.periodTotals(municipality, period).call()
        names = ("redeemed", "refunded", "vouchersRedeemed", "conversions")
        return dict(zip(names, (int(v) for v in values), strict=True))

    def version_of(self, contract: str) -> int:
        """The implementation version behind a proxy ("PointLedger", ...)."""
        return int(self._contract(contract).functions.version().call())

    def call(self, contract: str, function: str, *args: Any) -> Any:
        """Call any view (escape hatch for reports; prefer the typed views)."""
        return getattr(self._contract(contract).functions, function)(*args).call()

    def address(self, contract: str) -> ChecksumAddress:
        """The proxy address of `contract`."""
        return self.deployment.address_of(contract)
