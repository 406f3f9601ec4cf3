"""Counter terminal endpoints (`/terminal/v1`, docs/terminal-requests.md): every request signed.

Routers parse and shape; the checks live in api.chain.terminal_requests and the flow in
api.chain.actions. Each endpoint names the terminal kinds it allows. A redemption opened with
`"signing": "terminal"` (option B) answers the card with the unsigned transaction, and
`/redemptions/{id}/signed-transaction` relays what the terminal signed (api.chain.relay).
"""

from __future__ import annotations

import base64
import binascii
import datetime
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.chain.actions import (
    CardAnswer,
    SpendTarget,
    b64url,
    claim_action,
    open_action,
    relay_action,
    settle_action,
    voucher_secret,
)
from api.chain.errors import AmountInvalid
from api.chain.ledger import IssuedVoucher, Redemption, TerminalRegistration, tx_hash_of
from api.chain.lookups import answer_lookup, open_lookup
from api.chain.relay import PreparedTransaction
from api.chain.side import ChainSide
from api.chain.terminal_requests import (
    KIND_WORDS,
    parse_headers,
    registered_terminal,
    remember_nonce,
    require_held_key,
    verify_signature,
)
from api.deps import DbDep, ServicesDep
from api.errors import FieldError, InvalidFields, LedgerUnavailable
from api.messages import Message
from api.services.audit import Actor, ActorKind, record_audit
from api.services.container import Services
from api.store.models import TerminalAction
from contracts.domain import TerminalKind, Use, end_of_jst_day, format_code

router = APIRouter(prefix="/terminal/v1", tags=["terminals"])

_NO_CHAIN = Message(
    "台帳に接続できません。しばらくしてからもう一度お試しください。",
    "The ledger side of the API is not configured. Please try again later.",
)


def get_chain(request: Request) -> ChainSide:
    """Return the app's chain side; 503 problem when the API runs without a ledger."""
    chain: ChainSide | None = getattr(request.app.state, "chain", None)
    if chain is None:
        raise LedgerUnavailable(_NO_CHAIN)
    return chain


ChainDep = Annotated[ChainSide, Depends(get_chain)]


def _target(request: Request) -> str:
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1")
    return f"{target}?{query.decode('latin-1')}" if query else target


def signed_terminal(
    *kinds: TerminalKind,
) -> Callable[[Request, ServicesDep, DbDep], Awaitable[TerminalRegistration]]:
    """Return a dependency giving the verified, registered terminal of one of `kinds`."""
    allowed = frozenset(kinds)

    async def dependency(
        request: Request, services: ServicesDep, db: DbDep
    ) -> TerminalRegistration:
        body = await request.body()
        now = services.clock.now()
        signed = parse_headers(request.headers)
        verify_signature(
            method=request.method, target=_target(request), body=body, signed=signed, now=now
        )
        remember_nonce(db, signed, now)
        # Only a correctly signed request learns whether the ledger side is up.
        return registered_terminal(get_chain(request).ledger, signed, allowed)

    return dependency


AnyTerminal = Annotated[TerminalRegistration, Depends(signed_terminal())]
PointUseTerminal = Annotated[TerminalRegistration, Depends(signed_terminal(TerminalKind.POINT_USE))]
VoucherTerminal = Annotated[
    TerminalRegistration, Depends(signed_terminal(TerminalKind.VOUCHER_ISSUE))
]


class TerminalOut(BaseModel):
    """Who the terminal is, as registered on-chain."""

    address: str
    business: str
    kinds: list[str]


class ActionIn(BaseModel):
    """An amount of points to redeem (or to put on a voucher)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": 500}]})
    amount: int = Field(description="Whole points, at least 1.")


class RedemptionIn(ActionIn):
    """An amount of points to redeem, and who signs the transaction (docs: option A or B)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": 500}, {"amount": 500, "signing": "terminal"}]}
    )
    signing: Literal["api", "terminal"] = Field(
        default="api",
        description='"api": the API sends the transaction with the key it holds; "terminal": '
        "the card answer returns the unsigned transaction for the terminal to sign and post.",
    )


class ActionOut(BaseModel):
    """An opened action: the statement for the card to sign."""

    action_id: str
    amount: int
    expires_at: int
    statement: str = Field(description="base64url (no padding) of the statement bytes")


class CardAnswerIn(BaseModel):
    """The card's auth certificate and its signature over SHA-256 of the statement."""

    certificate: str = Field(description="DER certificate, standard base64")
    signature: str = Field(description="256-byte RSA signature, standard base64")


class RedemptionOut(BaseModel):
    """A final redemption."""

    action_id: str
    amount: int
    municipality_code: str
    remaining_balance: int
    transaction_hash: str
    redemption_id: int


class UnsignedTransactionOut(BaseModel):
    """The redeem transaction the API would have sent, for the terminal to sign as it is."""

    to: str
    data: str = Field(description="0x calldata: redeem(attestation, signature, account, use)")
    value: int = 0
    gas: int = Field(description="Gas limit; the terminal may sign a lower one, not a higher one")
    gasPrice: int = Field(description="The ledger's base fee is zero, so this is 0")  # noqa: N815
    chainId: int  # noqa: N815 (JSON-RPC field names)
    nonce: int = Field(description="The terminal account's pending nonce when prepared")


class PreparedRedemptionOut(BaseModel):
    """Option B: the card answered; sign `transaction` and post it before `expires_at`."""

    action_id: str
    amount: int
    municipality_code: str
    transaction: UnsignedTransactionOut
    expires_at: int = Field(description="The attestation's deadline (Unix seconds)")


class SignedTransactionIn(BaseModel):
    """The prepared transaction, signed by the terminal's key (EIP-155 legacy or type 2)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"raw_transaction": "0xf9018a04808302bf2094..."}]}
    )
    raw_transaction: str = Field(pattern=r"^0x([0-9a-fA-F]{2})+$", max_length=8192)


class VoucherOut(BaseModel):
    """A final voucher issue; `voucher_secret` is printed on it (as a barcode) and redeems it."""

    action_id: str
    voucher_code: str
    voucher_secret: str
    face_value: int
    valid_until: str
    municipality_code: str
    remaining_balance: int
    transaction_hash: str


def _decode(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidFields([FieldError.of(field, "invalid")]) from None


def _answer(body: CardAnswerIn) -> CardAnswer:
    return CardAnswer(
        _decode(body.certificate, "certificate"), _decode(body.signature, "signature")
    )


def _amount(body: ActionIn) -> int:
    if body.amount < 1:
        raise AmountInvalid(
            Message("金額は1以上の整数で入力してください。", "amount must be at least 1")
        )
    return body.amount


@router.get("/terminal", summary="Who this terminal is", response_model=TerminalOut)
def who_am_i(terminal: AnyTerminal) -> TerminalOut:
    """Return the terminal's registration."""
    return TerminalOut(
        address=terminal.address,
        business=str(terminal.owner_id),
        kinds=[KIND_WORDS[terminal.kind]],
    )


@router.post("/redemptions", status_code=201, summary="Open a redemption", response_model=ActionOut)
def open_redemption(
    body: RedemptionIn,
    terminal: PointUseTerminal,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> ActionOut:
    """Open a redemption for `amount` points; the card signs the returned statement."""
    return _open(
        kind="redemption",
        body=body,
        terminal=terminal,
        services=services,
        db=db,
        chain=chain,
        signing=body.signing,
    )


@router.post(
    "/redemptions/{action_id}/card-answer",
    summary="Settle a redemption with the card's answer",
    response_model=RedemptionOut | PreparedRedemptionOut,
)
def answer_redemption(
    *,
    action_id: str,
    body: CardAnswerIn,
    terminal: PointUseTerminal,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> RedemptionOut | PreparedRedemptionOut:
    """Verify the card, attest, redeem; answer once the receipt is final.

    For a redemption opened with `"signing": "terminal"`, answer instead with the unsigned
    transaction for the terminal to sign and post to `/signed-transaction`.
    """
    answer = _answer(body)
    action, target, result = _settle(
        kind="redemption",
        action_id=action_id,
        answer=answer,
        terminal=terminal,
        services=services,
        db=db,
        chain=chain,
    )
    if isinstance(result, PreparedTransaction):
        return PreparedRedemptionOut(
            action_id=action_id,
            amount=action.amount,
            municipality_code=format_code(target.municipality),
            transaction=UnsignedTransactionOut(
                to=result.to,
                data=result.data,
                gas=result.gas,
                gasPrice=result.gas_price,
                chainId=result.chain_id,
                nonce=result.nonce,
            ),
            expires_at=result.expires_at,
        )
    assert isinstance(result, Redemption)
    return RedemptionOut(
        action_id=action_id,
        amount=action.amount,
        municipality_code=format_code(target.municipality),
        remaining_balance=result.remaining_balance,
        transaction_hash=result.transaction_hash,
        redemption_id=result.redemption_id,
    )


@router.post(
    "/redemptions/{action_id}/signed-transaction",
    summary="Relay the redemption transaction the terminal signed",
    response_model=RedemptionOut,
)
def relay_redemption(
    *,
    action_id: str,
    body: SignedTransactionIn,
    terminal: PointUseTerminal,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> RedemptionOut:
    """Check it is the prepared transaction from this terminal, relay it, answer once final."""
    action, result = relay_action(
        db=db,
        chain=chain,
        action_id=action_id,
        terminal=terminal.address,
        raw=bytes.fromhex(body.raw_transaction[2:]),
        now=services.clock.now(),
    )
    assert action.municipality is not None  # set when the transaction was prepared
    return RedemptionOut(
        action_id=action_id,
        amount=action.amount,
        municipality_code=action.municipality,
        remaining_balance=result.remaining_balance,
        transaction_hash=result.transaction_hash,
        redemption_id=result.redemption_id,
    )


@router.post("/vouchers", status_code=201, summary="Open a voucher issue", response_model=ActionOut)
def open_voucher(
    body: ActionIn, terminal: VoucherTerminal, services: ServicesDep, db: DbDep, chain: ChainDep
) -> ActionOut:
    """Open a voucher issue for `amount` points; the card signs the returned statement."""
    return _open(
        kind="voucher", body=body, terminal=terminal, services=services, db=db, chain=chain
    )


@router.post(
    "/vouchers/{action_id}/card-answer",
    summary="Issue a voucher with the card's answer",
    response_model=VoucherOut,
)
def answer_voucher(
    *,
    action_id: str,
    body: CardAnswerIn,
    terminal: VoucherTerminal,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> VoucherOut:
    """Verify the card, attest, issue the voucher; answer once the receipt is final."""
    answer = _answer(body)
    action, target, result = _settle(
        kind="voucher",
        action_id=action_id,
        answer=answer,
        terminal=terminal,
        services=services,
        db=db,
        chain=chain,
    )
    assert isinstance(result, IssuedVoucher)
    valid_until = end_of_jst_day(result.expires_at - 1)
    return VoucherOut(
        action_id=action_id,
        voucher_code=f"V-{result.voucher_id:06d}",
        voucher_secret="0x" + voucher_secret(action_id, answer.signature).hex(),
        face_value=action.amount,
        valid_until=_jst_day(valid_until - 1),
        municipality_code=format_code(target.municipality),
        remaining_balance=result.remaining_balance,
        transaction_hash=result.transaction_hash,
    )


def _open(
    *,
    kind: str,
    body: ActionIn,
    terminal: TerminalRegistration,
    services: Services,
    db: Session,
    chain: ChainSide,
    signing: str = "api",
) -> ActionOut:
    """Open a spending action of `kind` and hand back the statement the card must sign.

    When the API is to sign, it must hold the terminal's key: refused now (403
    terminal-key-not-held), before the resident's card is asked for anything.
    """
    if signing == "api":
        require_held_key(
            chain.ledger,
            terminal.address,
            Message(
                "この端末の鍵はAPIにありません。端末で署名する設定にしてください。",
                f"the API holds no key for terminal {terminal.address}: open the {kind} with "
                '"signing": "terminal" (the terminal signs its own transaction)'
                if kind == "redemption"
                else f"the API holds no key for terminal {terminal.address}",
            ),
        )
    opened = open_action(
        db=db,
        kind=kind,
        terminal=terminal,
        amount=_amount(body),
        now=services.clock.now(),
        ttl=chain.config.action_ttl_seconds,
        signing=signing,
    )
    return ActionOut(
        action_id=opened.action_id,
        amount=opened.amount,
        expires_at=opened.expires_at,
        statement=b64url(opened.statement),
    )


def _settle(
    *,
    kind: str,
    action_id: str,
    answer: CardAnswer,
    terminal: TerminalRegistration,
    services: Services,
    db: Session,
    chain: ChainSide,
) -> tuple[TerminalAction, SpendTarget, Redemption | IssuedVoucher | PreparedTransaction]:
    """Claim this terminal's open action of `kind` and settle it with the card's answer."""
    now = services.clock.now()
    action = claim_action(db=db, kind=kind, action_id=action_id, terminal=terminal.address, now=now)
    target, result = settle_action(
        db=db,
        chain=chain,
        cards=services.cards,
        action=action,
        answer=answer,
        now=now,
        registration=terminal,  # read by the signed-request check moments ago
    )
    return action, target, result


def _jst_day(timestamp: int) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp + 9 * 3600, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d")


class RefundIn(BaseModel):
    """Points to give back from an earlier redemption at this business."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"redemption_id": 7, "amount": 50}]})
    redemption_id: int = Field(ge=1)
    amount: int = Field(description="Whole points, at least 1.")


class RefundOut(BaseModel):
    """A final refund."""

    redemption_id: int
    amount: int
    transaction_hash: str


@router.post("/refunds", status_code=201, summary="Refund a redemption", response_model=RefundOut)
def refund(
    body: RefundIn, terminal: PointUseTerminal, services: ServicesDep, db: DbDep, chain: ChainDep
) -> RefundOut:
    """Refund (part of) a redemption of this business, within the municipality's window."""
    amount = _amount(ActionIn(amount=body.amount))
    sent = chain.ledger.refund(terminal.address, body.redemption_id, amount)
    transaction_hash = tx_hash_of(sent)
    record_audit(
        db=db,
        at=services.clock.now(),
        actor=Actor(ActorKind.SYSTEM, f"terminal {terminal.address}"),
        action="terminal-refund",
        target=str(body.redemption_id),
        transaction_hash=transaction_hash,
        detail={"amount": amount, "business": terminal.owner_id},
    )
    db.commit()
    return RefundOut(
        redemption_id=body.redemption_id, amount=amount, transaction_hash=transaction_hash
    )


class VoucherRedemptionIn(BaseModel):
    """A voucher presented at a point-use terminal: its number and the secret printed on it."""

    voucher_id: int = Field(ge=1)
    secret: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class VoucherRedemptionOut(BaseModel):
    """A final voucher redemption."""

    voucher_id: int
    amount: int
    municipality_code: str
    transaction_hash: str


@router.post(
    "/voucher-redemptions",
    status_code=201,
    summary="Redeem a voucher",
    response_model=VoucherRedemptionOut,
)
def redeem_voucher(
    body: VoucherRedemptionIn,
    terminal: PointUseTerminal,
    services: ServicesDep,
    db: DbDep,
    chain: ChainDep,
) -> VoucherRedemptionOut:
    """Redeem a voucher at a business that takes its municipality's points."""
    municipality = chain.ledger.voucher_municipality(body.voucher_id)
    uses = chain.ledger.accepted_uses(municipality, terminal.owner_id) if municipality else []
    use = uses[0] if uses else Use.LOCAL_STORE  # the ledger refuses a business that takes none
    sent = chain.ledger.redeem_voucher(
        terminal.address, body.voucher_id, bytes.fromhex(body.secret[2:]), use=use
    )
    event = sent.event("VoucherRedeemed")
    transaction_hash = tx_hash_of(sent)
    record_audit(
        db=db,
        at=services.clock.now(),
        actor=Actor(ActorKind.SYSTEM, f"terminal {terminal.address}"),
        action="terminal-voucher-redeemed",
        target=str(body.voucher_id),
        transaction_hash=transaction_hash,
        detail={"amount": int(event.args["amount"]), "business": terminal.owner_id},
    )
    db.commit()
    return VoucherRedemptionOut(
        voucher_id=body.voucher_id,
        amount=int(event.args["amount"]),
        municipality_code=format_code(municipality),
        transaction_hash=transaction_hash,
    )


LookupTerminal = Annotated[
    TerminalRegistration, Depends(signed_terminal(TerminalKind.SERVICE_ID_LOOKUP))
]


class LookupChallengeIn(BaseModel):
    """Which service's number the terminal wants."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"service_code": "kawasaki-library"}]}
    )
    service_code: str = Field(max_length=64)


class LookupChallengeOut(BaseModel):
    """A challenge for the card (32 bytes, base64url), single use, bound to terminal + service."""

    challenge_id: str
    challenge: str
    expires_at: int


class LookupIn(BaseModel):
    """The card's answer to the lookup challenge."""

    challenge_id: str
    certificate: str = Field(description="DER certificate, standard base64")
    signature: str = Field(description="RSA signature, standard base64")


class LookupOut(BaseModel):
    """That service's number for the card in front of the terminal, with the checks."""

    service_code: str
    service_name: str
    service_id: str
    valid_today_only: bool
    valid_on: str
    address_changed: bool
    address_changed_on: str | None


@router.post(
    "/lookups/challenges",
    status_code=201,
    summary="Ask for a lookup challenge",
    response_model=LookupChallengeOut,
)
def lookup_challenge(
    body: LookupChallengeIn, terminal: LookupTerminal, services: ServicesDep, db: DbDep
) -> LookupChallengeOut:
    """Return a challenge for one service run by this terminal's business."""
    opened = open_lookup(
        db=db, terminal=terminal, service_code=body.service_code, now=services.clock.now()
    )
    return LookupChallengeOut(
        challenge_id=opened.challenge_id,
        challenge=b64url(opened.challenge),
        expires_at=opened.expires_at,
    )


@router.post("/lookups", summary="Look up the service ID of the card", response_model=LookupOut)
def lookup(body: LookupIn, terminal: LookupTerminal, services: ServicesDep, db: DbDep) -> LookupOut:
    """Verify the card; return that service's number, its validity and the address-change flag."""
    result = answer_lookup(
        db=db,
        cipher=services.cipher,
        cards=services.cards,
        terminal=terminal,
        challenge_id=body.challenge_id,
        answer=CardAnswer(
            _decode(body.certificate, "certificate"), _decode(body.signature, "signature")
        ),
        now=services.clock.now(),
    )
    return LookupOut(valid_today_only=True, **vars(result))
