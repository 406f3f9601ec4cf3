"""Terminal actions: a redemption (or voucher) opened by a terminal, signed by the card, settled.

Flow (docs/terminal-requests.md): the terminal opens an action for an amount and gets a
statement; the resident's card signs SHA-256 of the statement after the PIN; the API verifies
the card, finds its MyKey ID, picks the municipality whose points the business accepts and
which holds enough, signs the platform attestation over keccak(statement ‖ card signature)
and sends the transaction as the terminal, answering only once the receipt is final.

Option B (`signing="terminal"`, redemptions only): the card answer ends with the unsigned
redeem transaction stored with the action (`prepared`) instead of a send; the terminal signs it
and `relay_action` checks it (api.chain.relay) and sends the raw bytes, answering as the API path.

Invariants: an action is answered at most once (an atomic `open` -> `submitting` claim), only by
the terminal that opened it and before it expires; a prepared action is relayed at most once (an
atomic `prepared` -> `relaying` claim) before its attestation's deadline; the evidence
(statement, card signature, certificate fingerprint) stays off-chain in `terminal_actions`; only
its hash goes on-chain.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from eth_utils.crypto import keccak
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.chain.errors import (
    ActionExpired,
    AmountInvalid,
    InsufficientPoints,
    MykeyIdNotRegistered,
    MykeyIdRevoked,
    WrongBusiness,
)
from api.chain.ledger import IssuedVoucher, Redemption, TerminalRegistration
from api.chain.relay import (
    AlreadyRelayed,
    PreparedTransaction,
    RelayActionExpired,
    check_relayed,
    decode_raw,
)
from api.chain.side import ChainSide
from api.errors import LedgerUnavailable, SubmissionInDoubt
from api.messages import Message
from api.ports import CardVerifier
from api.services.audit import Actor, ActorKind, record_audit
from api.store.models import Account, TerminalAction
from contracts.domain import Action, Use

STATEMENT_HEADER = "mykey-ledger/terminal-action/v1"
MAX_AMOUNT = 1_000_000
MYKEY_REVOKED = 2
MEMBER_MUNICIPALITY = 2
"""Kinds.MEMBER_MUNICIPALITY: the terminal belongs to a municipality, not a business."""
"""MykeyRegistry.statusOf: 0 none, 1 active, 2 revoked."""
KIND_PREFIX = {"redemption": "rd_", "voucher": "vc_"}
SIGNING_API = "api"
SIGNING_TERMINAL = "terminal"
SIGNING_MODES = (SIGNING_API, SIGNING_TERMINAL)


class ActionState:
    """States of a terminal action."""

    OPEN = "open"
    SUBMITTING = "submitting"
    PREPARED = "prepared"
    """Option B: the unsigned transaction was handed to the terminal; awaiting its signature."""
    RELAYING = "relaying"
    DONE = "done"
    REFUSED = "refused"


@dataclass(frozen=True)
class OpenedAction:
    """What the terminal gets back when it opens an action."""

    action_id: str
    amount: int
    expires_at: int
    statement: bytes


@dataclass(frozen=True)
class CardAnswer:
    """The card's answer to a statement: its auth certificate (DER) and signature."""

    certificate_der: bytes
    signature: bytes


@dataclass(frozen=True)
class SpendTarget:
    """Whose points, where, for which use."""

    mykey_id: str
    municipality: int
    use: Use


def b64url(raw: bytes) -> str:
    """Base64url without padding (how statements and challenges travel)."""
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def build_statement(
    *, kind: str, action_id: str, terminal: str, business: int, amount: int, expires_at: int
) -> bytes:
    """Return the statement bytes the card signs (first line fixed, one key=value a line)."""
    lines = [
        STATEMENT_HEADER,
        f"action={kind}",
        f"action_id={action_id}",
        f"terminal={terminal.lower()}",
        f"business={business}",
        f"amount={amount}",
        f"challenge={b64url(secrets.token_bytes(32))}",
        f"expires_at={expires_at}",
    ]
    return "\n".join(lines).encode("utf-8")


def open_action(
    *,
    db: Session,
    kind: str,
    terminal: TerminalRegistration,
    amount: int,
    now: int,
    ttl: int,
    signing: str = SIGNING_API,
) -> OpenedAction:
    """Store a new open action and return its statement; AmountInvalid for a bad amount.

    `signing` is who will sign the transaction: "api" (its keystore) or "terminal" (option B).
    """
    if signing not in SIGNING_MODES or (signing == SIGNING_TERMINAL and kind != "redemption"):
        raise ValueError(f"signing {signing!r} is not offered for a {kind}")
    if not 1 <= amount <= MAX_AMOUNT:
        raise AmountInvalid(
            Message(
                "金額は1以上の整数で入力してください。",
                f"amount must be an integer from 1 to {MAX_AMOUNT}, not {amount}",
            )
        )
    action_id = KIND_PREFIX[kind] + secrets.token_urlsafe(24)
    expires_at = now + ttl
    statement = build_statement(
        kind=kind,
        action_id=action_id,
        terminal=terminal.address,
        business=terminal.owner_id,
        amount=amount,
        expires_at=expires_at,
    )
    db.add(
        TerminalAction(
            id=action_id,
            kind=kind,
            terminal=terminal.address,
            business=terminal.owner_id,
            amount=amount,
            statement=statement,
            expires_at=expires_at,
            state=ActionState.OPEN,
            created_at=now,
            signing=SIGNING_TERMINAL if signing == SIGNING_TERMINAL else None,
        )
    )
    db.commit()
    return OpenedAction(action_id, amount, expires_at, statement)


def claim_action(
    *, db: Session, kind: str, action_id: str, terminal: str, now: int
) -> TerminalAction:
    """Atomically move an open, unexpired action of `terminal` to `submitting`; return it.

    Raises ActionExpired when it is unknown, another terminal's, already answered or expired.
    """
    claimed = db.execute(
        update(TerminalAction)
        .where(
            TerminalAction.id == action_id,
            TerminalAction.kind == kind,
            TerminalAction.terminal == terminal,
            TerminalAction.state == ActionState.OPEN,
            TerminalAction.expires_at >= now,
        )
        .values(state=ActionState.SUBMITTING)
    )
    db.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ActionExpired(
            Message(
                "この取引は期限切れか、すでに処理されています。最初からやり直してください。",
                f"action {action_id} is unknown, already answered or expired; open a new one",
            )
        )
    action = db.get(TerminalAction, action_id)
    assert action is not None  # just claimed
    return action


def identify_resident(
    *, db: Session, cards: CardVerifier, action: TerminalAction, answer: CardAnswer, now: int
) -> tuple[str, str]:
    """Verify the card's signature over the statement; return (MyKey ID, fingerprint)."""
    card = cards.verify_challenge_response(
        challenge=action.statement,
        certificate_der=answer.certificate_der,
        signature=answer.signature,
        now=now,
    )
    account = db.scalars(
        select(Account).where(Account.certificate_fingerprint == card.certificate_fingerprint)
    ).first()
    if account is None:
        raise MykeyIdNotRegistered(
            Message(
                "このカードにはマイキーIDが登録されていません。",
                "no MyKey ID is bound to this card's certificate",
            )
        )
    return account.mykey_id, card.certificate_fingerprint


def choose_points(chain: ChainSide, *, mykey_id: str, business: int, amount: int) -> SpendTarget:
    """Pick the municipality whose points pay: home first, then others accepting the business.

    Raises MykeyIdRevoked; WrongBusiness when the resident holds enough points only in
    municipalities that do not accept this business (or none accepts it at all);
    InsufficientPoints (with the largest accepted balance) otherwise.
    """
    status, home = chain.ledger.mykey_status(mykey_id)
    if status == MYKEY_REVOKED:
        raise MykeyIdRevoked(
            Message("このマイキーIDは失効しています。", f"MyKey ID {mykey_id} is revoked")
        )
    codes = chain.ledger.municipalities()
    ordered = [home] + [code for code in codes if code != home] if home in codes else codes
    best_accepted = 0
    enough_elsewhere = False
    accepted_anywhere = False
    for code in ordered:
        uses = chain.ledger.accepted_uses(code, business)
        balance = chain.ledger.balance_of(mykey_id, code)
        if not uses:
            enough_elsewhere = enough_elsewhere or balance >= amount
            continue
        accepted_anywhere = True
        if balance >= amount:
            return SpendTarget(mykey_id, code, uses[0])
        best_accepted = max(best_accepted, balance)
    if enough_elsewhere or not accepted_anywhere:
        raise WrongBusiness(
            Message(
                "この店舗ではお持ちのポイントを利用できません。",
                f"business {business} does not accept the points MyKey ID {mykey_id} holds",
            )
        )
    raise InsufficientPoints(
        Message(
            f"ポイントが不足しています(残高 {best_accepted})。",
            f"the balance ({best_accepted}) is below the amount ({amount})",
        ),
        extensions={"balance": best_accepted},
    )


def _spend_target(
    chain: ChainSide,
    action: TerminalAction,
    mykey_id: str,
    registration: TerminalRegistration | None,
) -> tuple[SpendTarget, int]:
    """Return where the points come from and the attestation's business field.

    A municipality's own voucher terminal issues vouchers of that municipality's points only
    (the attestation names business 0); a business's terminals go through `choose_points`.
    `registration` is the terminal's on-chain registration when the caller has just read it
    (the signed-request check does); otherwise it is read here.
    """
    if registration is None:
        registration = chain.ledger.terminal(action.terminal)
    if registration is not None and registration.owner_kind == MEMBER_MUNICIPALITY:
        municipality = registration.owner_id
        balance = chain.ledger.balance_of(mykey_id, municipality)
        if balance < action.amount:
            raise InsufficientPoints(
                Message(
                    f"ポイントが不足しています(残高 {balance})。",
                    f"the balance ({balance}) is below the amount ({action.amount})",
                ),
                extensions={"balance": balance},
            )
        return SpendTarget(mykey_id, municipality, Use.FACILITY), 0
    target = choose_points(chain, mykey_id=mykey_id, business=action.business, amount=action.amount)
    return target, action.business


def _finish(
    db: Session,
    action: TerminalAction,
    *,
    state: str,
    target: SpendTarget | None,
    answer: CardAnswer | None,
    fingerprint: str | None,
    transaction_hash: str | None,
    now: int,
) -> None:
    action.state = state
    if answer is not None:  # a relay finishes an action whose card answer is already kept
        action.card_signature = answer.signature
        action.certificate_fingerprint = fingerprint
    action.transaction_hash = transaction_hash
    if target is not None:
        action.mykey_id = target.mykey_id
        action.municipality = f"{target.municipality:05d}"
    record_audit(
        db=db,
        at=now,
        actor=Actor(ActorKind.SYSTEM, f"terminal {action.terminal}"),
        action=f"terminal-{action.kind}-{state}",
        target=action.id,
        transaction_hash=transaction_hash,
        detail={"amount": action.amount, "business": action.business},
    )
    db.commit()


def settle_action(
    *,
    db: Session,
    chain: ChainSide,
    cards: CardVerifier,
    action: TerminalAction,
    answer: CardAnswer,
    now: int,
    registration: TerminalRegistration | None = None,
) -> tuple[SpendTarget, Redemption | IssuedVoucher | PreparedTransaction]:
    """Verify, attest and send a claimed action; record the outcome either way.

    Whatever is raised, the action ends `refused` (a new statement is needed for a new try),
    except when the transaction's outcome is in doubt, where it stays `submitting`. An action
    the terminal signs (option B) is not sent: it ends `prepared` with the unsigned transaction
    stored and returned, valid until the attestation's deadline.
    """
    target: SpendTarget | None = None
    fingerprint: str | None = None
    try:
        mykey_id, fingerprint = identify_resident(
            db=db, cards=cards, action=action, answer=answer, now=now
        )
        target, business = _spend_target(chain, action, mykey_id, registration)
        signed = chain.attestor.attest(
            action=Action.REDEEM if action.kind == "redemption" else Action.ISSUE_VOUCHER,
            mykey_id=mykey_id,
            municipality=target.municipality,
            amount=action.amount,
            business=business,
            evidence=action.statement + answer.signature,
        )
        result: Redemption | IssuedVoucher
        if action.signing == SIGNING_TERMINAL:
            params = chain.ledger.prepare_redeem(action.terminal, signed, use=target.use)
            prepared = PreparedTransaction(
                to=str(params["to"]),
                data=str(params["data"]).lower(),
                gas=int(params["gas"]),
                gas_price=int(params["gasPrice"]),
                chain_id=int(params["chainId"]),
                nonce=int(params["nonce"]),
                expires_at=signed.attestation.deadline,
            )
            action.prepared_transaction = prepared.to_json()
            # From here the attestation's deadline is the action's: the ledger refuses later.
            action.expires_at = prepared.expires_at
            _finish(
                db,
                action,
                state=ActionState.PREPARED,
                target=target,
                answer=answer,
                fingerprint=fingerprint,
                transaction_hash=None,
                now=now,
            )
            return target, prepared
        if action.kind == "redemption":
            result = chain.ledger.redeem(action.terminal, signed, use=target.use)
        else:
            result = chain.ledger.issue_voucher(
                action.terminal, signed, voucher_secret(action.id, answer.signature)
            )
    except Exception as error:
        if not isinstance(error, SubmissionInDoubt):
            _finish(
                db,
                action,
                state=ActionState.REFUSED,
                target=target,
                answer=answer,
                fingerprint=fingerprint,
                transaction_hash=None,
                now=now,
            )
        raise
    _finish(
        db,
        action,
        state=ActionState.DONE,
        target=target,
        answer=answer,
        fingerprint=fingerprint,
        transaction_hash=result.transaction_hash,
        now=now,
    )
    return target, result


def relay_action(
    *, db: Session, chain: ChainSide, action_id: str, terminal: str, raw: bytes, now: int
) -> tuple[TerminalAction, Redemption]:
    """Check `raw` against the action's prepared transaction, claim the action, relay, finish.

    Raises RelayActionExpired (nothing prepared for this terminal, or past the deadline),
    AlreadyRelayed, SignedByAnotherAccount, TransactionMismatch, and the API path's problems
    for a ledger refusal (e.g. InsufficientPoints when another redemption went first).
    """
    action = db.get(TerminalAction, action_id)
    if (
        action is None
        or action.terminal != terminal
        or action.signing != SIGNING_TERMINAL
        or action.prepared_transaction is None
    ):
        raise RelayActionExpired(
            Message(
                "この取引は期限切れか、署名を待っていません。最初からやり直してください。",
                f"action {action_id} has no prepared transaction for terminal {terminal}",
            )
        )
    if action.state != ActionState.PREPARED:
        raise _already_relayed(action_id, action.state)  # before the fields: they moved on
    prepared = PreparedTransaction.from_json(action.prepared_transaction)
    decoded = decode_raw(raw)
    try:
        pending = int(chain.w3.eth.get_transaction_count(decoded.sender, "pending"))  # type: ignore[arg-type]
    except Exception as error:  # the provider's connection errors differ by transport
        raise LedgerUnavailable(
            Message(
                "台帳に接続できません。しばらくしてからもう一度お試しください。",
                f"the ledger cannot be reached ({type(error).__name__})",
            )
        ) from error
    check_relayed(decoded, prepared, terminal=terminal, pending_nonce=pending)
    _claim_prepared(db, action_id, now)
    db.refresh(action)
    assert action.mykey_id is not None and action.municipality is not None  # set when prepared
    call: dict[str, object] = {"from": decoded.sender, "to": prepared.to, "data": prepared.data}
    try:
        result = chain.ledger.relay_redemption(
            raw,
            call,  # type: ignore[arg-type]
            mykey_id=action.mykey_id,
            municipality=int(action.municipality),
        )
    except Exception as error:
        if not isinstance(error, SubmissionInDoubt):
            _finish(
                db, action, state=ActionState.REFUSED, target=None, answer=None,
                fingerprint=None, transaction_hash=None, now=now,
            )  # fmt: skip
        raise
    _finish(
        db, action, state=ActionState.DONE, target=None, answer=None, fingerprint=None,
        transaction_hash=result.transaction_hash, now=now,
    )  # fmt: skip
    return action, result


def _claim_prepared(db: Session, action_id: str, now: int) -> None:
    """Atomically move a prepared, unexpired action to `relaying` (relayed once, as settle)."""
    claimed = db.execute(
        update(TerminalAction)
        .where(
            TerminalAction.id == action_id,
            TerminalAction.state == ActionState.PREPARED,
            TerminalAction.expires_at >= now,
        )
        .values(state=ActionState.RELAYING)
    )
    db.commit()
    if claimed.rowcount == 1:  # type: ignore[attr-defined]
        return
    state = db.scalar(select(TerminalAction.state).where(TerminalAction.id == action_id))
    if state != ActionState.PREPARED:  # only a relay moves a prepared action on
        raise _already_relayed(action_id, state)
    raise RelayActionExpired(
        Message(
            "取引の有効期限が切れました。最初からやり直してください。",
            f"the attestation of action {action_id} has expired; open a new redemption",
        )
    )


def _already_relayed(action_id: str, state: str | None) -> AlreadyRelayed:
    return AlreadyRelayed(
        Message(
            "この取引はすでに送信されています。",
            f"a transaction of action {action_id} was already relayed ({state})",
        )
    )


def voucher_secret(action_id: str, card_signature: bytes) -> bytes:
    """The 32-byte secret printed on a voucher (derived, so a crash cannot lose it)."""
    return keccak(action_id.encode("ascii") + card_signature)
