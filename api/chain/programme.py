"""A municipality's programme on the ledger: settings, businesses' uses, terminals, event accounts,
grant budget. Reads and writes through web3 with the municipality's admin key.

Every write is a Consortium call that only an account with ROLE_ADMIN of that municipality may
make; the API signs it with the municipality's admin key from the key ring (the key `ChainConfig`
names as the municipality's treasurer: in the demo consortium and in a first deployment the
admitted admin account holds both roles). A write returns only once its receipt is final.

Error contract (as api.chain.ledger's): a refusal raises `ProgrammeRefused` (or, for refusals
that are not about the programme's own fields, the matching `from_revert` problem) with the
ledger's reason in plain words and `field` naming the form field it concerns, nothing having
changed; an unreachable node raises `LedgerUnavailable`; a transaction sent but not seen final
raises `SubmissionInDoubt`.

Lists the contract keeps no index of (businesses, a municipality's terminals) are read from the
contract's own events (BusinessAdmitted, TerminalRegistered) up to the finalized head, and each
terminal found is checked against the `terminal(address)` view, so a deregistered one is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_utils.address import is_address, to_checksum_address
from requests.exceptions import RequestException
from web3.exceptions import Web3Exception

from api.chain.errors import from_revert
from api.chain.keys import KeystoreError
from api.chain.ledger import tx_hash_of
from api.chain.sender import TransactionNotFinal, TransactionReverted
from api.chain.side import ChainSide
from api.errors import ApiError, Conflict, Forbidden, LedgerUnavailable, NotFound, SubmissionInDoubt
from api.messages import Message
from api.ports import TransactionHash
from contracts.client import Sent
from contracts.domain import MemberKind, TerminalKind, Use, uses_mask
from contracts.errors import LedgerRevert
from contracts.events import decode_logs, event_topic

LOG_RANGE_BLOCKS = 5_000
"""Blocks per eth_getLogs request: below the node's 10,000-block limit for one query."""

MAX_DAYS = 3660
"""Consortium._checkSettings: validity of points and vouchers is 1..3660 days."""

MUNICIPAL_TERMINAL_KINDS = (
    TerminalKind.GRANTING,
    TerminalKind.VOUCHER_ISSUE,
    TerminalKind.SERVICE_ID_LOOKUP,
)
"""The terminal kinds a municipality may register (Consortium._terminalKindAllowed)."""

USE_SLUGS: dict[Use, str] = {
    Use.FACILITY: "facility",
    Use.LOCAL_STORE: "local-store",
    Use.TRANSPORT: "transport",
    Use.TOURISM: "tourism",
    Use.SOCIAL_CONTRIBUTION: "social-contribution",
    Use.CROWDFUNDING: "crowdfunding",
    Use.ONLINE_PURCHASE: "online-purchase",
}
"""The word of each use in the JSON API and in form field names."""

USE_WORDS: dict[Use, Message] = {
    Use.FACILITY: Message("公共施設", "Public facilities"),
    Use.LOCAL_STORE: Message("地元の店舗", "Local stores"),
    Use.TRANSPORT: Message("交通", "Transport"),
    Use.TOURISM: Message("観光", "Tourism"),
    Use.SOCIAL_CONTRIBUTION: Message("社会貢献（寄付）", "Social contribution (donation)"),
    Use.CROWDFUNDING: Message("クラウドファンディング", "Crowdfunding"),
    Use.ONLINE_PURCHASE: Message("オンライン購入", "Online purchase"),
}

TERMINAL_KIND_SLUGS: dict[TerminalKind, str] = {
    TerminalKind.SERVICE_ID_LOOKUP: "service-id-lookup",
    TerminalKind.POINT_USE: "point-use",
    TerminalKind.VOUCHER_ISSUE: "voucher-issue",
    TerminalKind.GRANTING: "granting",
}

TERMINAL_KIND_WORDS: dict[TerminalKind, Message] = {
    TerminalKind.SERVICE_ID_LOOKUP: Message("サービスID照会端末", "Service-ID lookup terminal"),
    TerminalKind.POINT_USE: Message("ポイント利用端末", "Point-use terminal"),
    TerminalKind.VOUCHER_ISSUE: Message("ポイント券発行端末", "Voucher-issue terminal"),
    TerminalKind.GRANTING: Message("ポイント付与端末", "Granting terminal"),
}

_T = TypeVar("_T")


class ProgrammeRefused(Conflict):
    """The ledger refused a programme change; `field` (an extension) names the field at fault."""

    slug = "programme-refused"
    title = "Programme change refused"


class ProgrammeInputInvalid(ApiError):
    """A programme value is malformed before anything is sent (a bad address, an unknown use)."""

    status = 422
    slug = "programme-input-invalid"
    title = "Programme value not valid"


@dataclass(frozen=True)
class _Refusal:
    message: Message
    field: str | None


_SETTING_FIELDS = {
    "validityDays": _Refusal(
        Message(
            f"ポイントの有効日数は1～{MAX_DAYS}日で指定してください。",
            f"Points must stay valid for 1 to {MAX_DAYS} days.",
        ),
        "validity_days",
    ),
    "voucherValidityDays": _Refusal(
        Message(
            f"ポイント券の有効日数は1～{MAX_DAYS}日で指定してください。",
            f"Vouchers must stay valid for 1 to {MAX_DAYS} days.",
        ),
        "voucher_validity_days",
    ),
    "event dates": _Refusal(
        Message(
            "終了日時は開始日時より後で、かつ現在より後にしてください。",
            "The end must be after the start, and in the future.",
        ),
        "ends_at",
    ),
}

_REFUSALS: dict[str, _Refusal] = {
    "InvalidUse": _Refusal(
        Message("用途を1つ以上、正しく選んでください。", "Choose one or more of the listed uses."),
        "uses",
    ),
    "TerminalTaken": _Refusal(
        Message(
            "このアドレスは既に端末として登録されています。新しい端末の鍵を使ってください。",
            "This address is already a registered terminal; use a new terminal key.",
        ),
        "address",
    ),
    "AccountTaken": _Refusal(
        Message(
            "このアドレスは既に会員のアカウントです。端末には新しい鍵を使ってください。",
            "This address already is a member's account; give the terminal a new key.",
        ),
        "address",
    ),
    "TerminalKindNotAllowed": _Refusal(
        Message(
            "自治体が登録できるのは付与・ポイント券発行・サービスID照会の端末だけです。",
            "A municipality registers only granting, voucher-issue and service-ID lookup "
            "terminals.",
        ),
        "kind",
    ),
    "ManagementTerminalExists": _Refusal(
        Message(
            "管理端末は既にあります。追加の付与端末は管理端末にせず登録してください。",
            "The management terminal already exists; register further granting terminals "
            "as mobile ones.",
        ),
        "management",
    ),
    "UnregisteredTerminal": _Refusal(
        Message("この端末は登録されていません。", "This terminal is not registered."),
        "address",
    ),
}


@dataclass(frozen=True)
class ProgrammeSettings:
    """The municipality's point settings as the Consortium contract holds them."""

    municipality: int
    admitted: bool
    paused: bool
    accepts_conversions: bool
    validity_days: int
    voucher_validity_days: int
    refund_window_seconds: int
    management_terminal: str | None
    event_accounts: int


@dataclass(frozen=True)
class BusinessAcceptance:
    """A consortium business and the uses it may accept this municipality's points for."""

    business: int
    name: str
    uses: tuple[Use, ...]


@dataclass(frozen=True)
class MunicipalTerminal:
    """A terminal the municipality registered and that is still registered."""

    address: str
    kind: TerminalKind
    management: bool
    registered_in_block: int


@dataclass(frozen=True)
class EventAccount:
    """An event account: points in it are spendable from `starts_at` to `ends_at` (Unix s)."""

    account: int
    starts_at: int
    ends_at: int
    uses: tuple[Use, ...]


@dataclass(frozen=True)
class GrantBudget:
    """The cap on points granted in one fiscal year (April-March, JST) and what is used of it."""

    municipality: int
    fiscal_year: int
    capped: bool
    cap: int
    used: int

    @property
    def remaining(self) -> int | None:
        """Points still grantable this fiscal year; None when there is no cap."""
        return max(self.cap - self.used, 0) if self.capped else None


@dataclass(frozen=True)
class OpenedEventAccount:
    """A final openEventAccount: the new account number and its transaction."""

    account: int
    transaction_hash: TransactionHash


def uses_from_mask(mask: int) -> tuple[Use, ...]:
    """Return the uses set in a Kinds.USE_* bit mask, lowest first."""
    return tuple(use for use in Use if mask & (1 << int(use)))


def parse_uses(slugs: Sequence[str]) -> tuple[Use, ...]:
    """Return the uses named by `slugs` (USE_SLUGS words); raise ProgrammeInputInvalid."""
    by_slug = {slug: use for use, slug in USE_SLUGS.items()}
    unknown = [slug for slug in slugs if slug not in by_slug]
    if unknown:
        raise ProgrammeInputInvalid(
            Message(
                f"用途 {', '.join(unknown)} はありません。",
                f"There is no use {', '.join(unknown)}; "
                f"choose from {', '.join(USE_SLUGS.values())}.",
            ),
            extensions={"field": "uses"},
        )
    return tuple(sorted({by_slug[slug] for slug in slugs}))


def parse_terminal_address(text: str) -> str:
    """Return `text` as a checksummed address; raise ProgrammeInputInvalid on `address`."""
    candidate = text.strip()
    if not is_address(candidate) or not candidate.startswith("0x"):
        raise ProgrammeInputInvalid(
            Message(
                "端末のアドレスは0xで始まる40ケタの16進数で入力してください。",
                "A terminal address is 0x followed by 40 hexadecimal digits.",
            ),
            extensions={"field": "address"},
        )
    return to_checksum_address(candidate)


def _refused(error: LedgerRevert) -> ApiError:
    """Map a programme refusal to plain words on its field; others as api.chain.errors does."""
    extensions: dict[str, object] = {"ledger_error": error.name}
    if error.name == "InvalidSetting":
        refusal = _SETTING_FIELDS.get(str(error.args_by_name.get("setting", "")))
    elif error.name == "BusinessNotAdmitted":
        return NotFound(
            Message(
                "この事業者はコンソーシアムの会員ではありません。",
                "This business is not a member of the consortium.",
            ),
            extensions=extensions,
        )
    elif error.name in ("NotMunicipalityStaff", "NotMemberAdmin"):
        return Forbidden(
            Message(
                "APIが持つこの自治体の鍵には管理者の権限がありません。運用者に連絡してください。",
                "The key the API holds for this municipality is not its admin account; "
                "ask the platform operator to configure the admin key.",
            ),
            extensions=extensions,
        )
    elif error.name == "TerminalOfAnotherMember":
        return Forbidden(
            Message(
                "この端末は他の会員の端末です。登録を解除できるのはその会員だけです。",
                "This terminal belongs to another member; only that member may deregister it.",
            ),
            extensions=extensions | {"field": "address"},
        )
    else:
        refusal = _REFUSALS.get(error.name)
    if refusal is None:
        return from_revert(error)
    if refusal.field is not None:
        extensions["field"] = refusal.field
    return ProgrammeRefused(refusal.message, extensions=extensions)


class ProgrammeLedger:
    """Reads and writes one deployment's municipal programmes over JSON-RPC."""

    def __init__(self, chain: ChainSide) -> None:
        self.chain = chain
        self.client = chain.ledger.client
        self.sender = chain.ledger.sender
        self.admins = dict(chain.config.treasurers) | dict(chain.config.municipal_admins)

    # ---- plumbing -----------------------------------------------------------------------------

    def _guard(self, action: Callable[[], _T]) -> _T:
        try:
            return action()
        except LedgerRevert as error:
            raise _refused(error) from None
        except TransactionReverted as error:
            raise ProgrammeRefused(Message("台帳が処理を拒否しました。", str(error))) from error
        except TransactionNotFinal as error:
            raise SubmissionInDoubt(
                Message(
                    "取引は送信されましたが、結果をまだ確認できません。再送せずに確認してください。",
                    f"The transaction was sent but is not final yet ({error}); "
                    "look at the programme again before retrying.",
                )
            ) from error
        except KeystoreError as error:
            raise LedgerUnavailable(
                Message("この自治体の管理者鍵がありません。", str(error))
            ) from error
        except (RequestException, Web3Exception, OSError) as error:
            raise LedgerUnavailable(
                Message(
                    "台帳に接続できません。しばらくしてからもう一度お試しください。",
                    f"The ledger cannot be reached ({type(error).__name__}). "
                    "Please try again later.",
                )
            ) from error

    def _admin(self, municipality: int) -> str:
        admin = self.admins.get(municipality)
        if admin is None:
            raise LedgerUnavailable(
                Message(
                    "この自治体の管理者鍵が設定されていません。",
                    f"No admin key is configured for municipality {municipality:05d}.",
                )
            )
        return admin

    def _send(self, municipality: int, function: Any) -> Sent:
        admin = self._admin(municipality)
        return self._guard(lambda: self.sender.send(admin, function))

    def _logs(self, event: str, topics: Sequence[bytes | None]) -> list[Any]:
        """Consortium logs of `event` with these further topics, deployment to finalized head."""
        deployment = self.chain.config.deployment
        head = int(self.chain.w3.eth.get_block("finalized")["number"])
        wanted: list[Any] = ["0x" + event_topic("Consortium", event).hex()]
        wanted += [None if topic is None else "0x" + topic.hex() for topic in topics]
        found: list[Any] = []
        for start in range(deployment.block_number, head + 1, LOG_RANGE_BLOCKS):
            found += self.chain.w3.eth.get_logs(
                {
                    "fromBlock": start,
                    "toBlock": min(start + LOG_RANGE_BLOCKS - 1, head),
                    "address": deployment.address_of("Consortium"),
                    "topics": wanted,
                }
            )
        return found

    # ---- reads --------------------------------------------------------------------------------

    def settings(self, municipality: int) -> ProgrammeSettings:
        """Return the municipality's settings; NotFound when it is not admitted."""
        raw = self._guard(
            lambda: self.client.consortium.functions.municipality(municipality).call()
        )
        admitted, paused, conversions, validity, voucher_validity, refund, management, events = raw
        if not admitted:
            raise NotFound(
                Message(
                    f"自治体 {municipality:05d} はコンソーシアムの会員ではありません。",
                    f"Municipality {municipality:05d} is not a member of the consortium.",
                )
            )
        management_terminal = to_checksum_address(management)
        return ProgrammeSettings(
            municipality=municipality,
            admitted=bool(admitted),
            paused=bool(paused),
            accepts_conversions=bool(conversions),
            validity_days=int(validity),
            voucher_validity_days=int(voucher_validity),
            refund_window_seconds=int(refund),
            management_terminal=None if int(management, 16) == 0 else management_terminal,
            event_accounts=int(events),
        )

    def businesses(self, municipality: int) -> list[BusinessAcceptance]:
        """Every consortium business with the uses it accepts `municipality`'s points for."""

        def read() -> list[BusinessAcceptance]:
            deployment = self.chain.config.deployment
            admitted = decode_logs(deployment, self._logs("BusinessAdmitted", []))
            result = []
            for event in admitted:
                business = int(event.args["business"])
                mask = self.client.consortium.functions.acceptedUses(municipality, business).call()
                result.append(
                    BusinessAcceptance(business, str(event.args["name"]), uses_from_mask(mask))
                )
            return sorted(result, key=lambda item: item.business)

        return self._guard(read)

    def terminals(self, municipality: int) -> list[MunicipalTerminal]:
        """The terminals `municipality` registered that are registered now, oldest first."""

        def read() -> list[MunicipalTerminal]:
            deployment = self.chain.config.deployment
            logs = self._logs(
                "TerminalRegistered",
                [
                    int(MemberKind.MUNICIPALITY).to_bytes(32, "big"),
                    municipality.to_bytes(32, "big"),
                ],
            )
            seen: dict[str, int] = {}
            for event in decode_logs(deployment, logs):
                seen.setdefault(str(event.args["terminal"]), event.block_number)
            result = []
            for address, block in seen.items():
                kind, owner_kind, owner_id, management = self.client.consortium.functions.terminal(
                    address
                ).call()
                if (
                    int(kind) == 0
                    or int(owner_kind) != MemberKind.MUNICIPALITY
                    or int(owner_id) != municipality
                ):
                    continue
                result.append(
                    MunicipalTerminal(address, TerminalKind(int(kind)), management, block)
                )
            return result

        return self._guard(read)

    def event_accounts(self, municipality: int) -> list[EventAccount]:
        """Every event account the municipality opened, in number order (1, 2, ...)."""
        count = self.settings(municipality).event_accounts

        def read() -> list[EventAccount]:
            result = []
            for account in range(1, count + 1):
                starts, ends, mask = self.client.consortium.functions.eventAccount(
                    municipality, account
                ).call()
                result.append(EventAccount(account, int(starts), int(ends), uses_from_mask(mask)))
            return result

        return self._guard(read)

    def grant_budget(self, municipality: int, fiscal_year: int) -> GrantBudget:
        """The fiscal year's cap (if any) and the points granted in it so far."""
        capped, cap = self._guard(
            lambda: self.client.consortium.functions.grantBudget(municipality, fiscal_year).call()
        )
        used = self._guard(
            lambda: self.client.ledger.functions.grantedInFiscalYear(
                municipality, fiscal_year
            ).call()
        )
        return GrantBudget(municipality, fiscal_year, bool(capped), int(cap), int(used))

    # ---- writes (each as the municipality's admin account) ------------------------------------

    def set_settings(
        self,
        municipality: int,
        *,
        validity_days: int,
        voucher_validity_days: int,
        refund_window_seconds: int,
        accepts_conversions: bool,
    ) -> TransactionHash:
        """Change expiry rules, refund window and conversions; return the final hash."""
        return tx_hash_of(
            self._send(
                municipality,
                self.client.consortium.functions.setMunicipalitySettings(
                    municipality,
                    validity_days,
                    voucher_validity_days,
                    refund_window_seconds,
                    accepts_conversions,
                ),
            )
        )

    def set_paused(self, municipality: int, paused: bool) -> TransactionHash:
        """Pause (or resume) every point movement of the municipality; return the final hash."""
        return tx_hash_of(
            self._send(
                municipality, self.client.consortium.functions.setPaused(municipality, paused)
            )
        )

    def set_business_acceptance(
        self, municipality: int, business: int, uses: Sequence[Use]
    ) -> TransactionHash:
        """Let `business` accept the municipality's points for exactly `uses` (none: stop)."""
        return tx_hash_of(
            self._send(
                municipality,
                self.client.consortium.functions.setBusinessAcceptance(
                    municipality, business, uses_mask(*uses)
                ),
            )
        )

    def register_terminal(
        self, municipality: int, address: str, kind: TerminalKind, *, management: bool
    ) -> TransactionHash:
        """Register one of the municipality's own terminals; return the final hash.

        Raises ProgrammeInputInvalid for a malformed address or a management terminal that is
        not a granting one, before anything is sent.
        """
        if management and kind != TerminalKind.GRANTING:
            raise ProgrammeInputInvalid(
                Message(
                    "管理端末にできるのはポイント付与端末だけです。",
                    "Only a granting terminal can be the management terminal.",
                ),
                extensions={"field": "management"},
            )
        return tx_hash_of(
            self._send(
                municipality,
                self.client.consortium.functions.registerTerminal(
                    parse_terminal_address(address), int(kind), management
                ),
            )
        )

    def deregister_terminal(self, municipality: int, address: str) -> TransactionHash:
        """Deregister one of the municipality's terminals; return the final hash."""
        return tx_hash_of(
            self._send(
                municipality,
                self.client.consortium.functions.deregisterTerminal(
                    parse_terminal_address(address)
                ),
            )
        )

    def open_event_account(
        self, municipality: int, *, starts_at: int, ends_at: int, uses: Sequence[Use]
    ) -> OpenedEventAccount:
        """Open an event account spendable from `starts_at` to `ends_at` for `uses`."""
        sent = self._send(
            municipality,
            self.client.consortium.functions.openEventAccount(
                municipality, starts_at, ends_at, uses_mask(*uses)
            ),
        )
        account = int(sent.event("EventAccountOpened").args["account"])
        return OpenedEventAccount(account, tx_hash_of(sent))

    def set_grant_budget(
        self, municipality: int, fiscal_year: int, *, capped: bool, cap: int
    ) -> TransactionHash:
        """Cap (or uncap) the points granted in `fiscal_year`; return the final hash."""
        return tx_hash_of(
            self._send(
                municipality,
                self.client.consortium.functions.setGrantBudget(
                    municipality, fiscal_year, capped, cap if capped else 0
                ),
            )
        )
