"""MyKey ID registration, exactly as deck screen 16 (DOMAIN.md flow 1).

1. The resident proves possession of the card: we issue a one-time registration statement
   (`card_bridge.browser_helper.registration_statement`: a fixed first line, 32 random bytes, the
   origin of the page that asked for it or "-", its deadline), the card signs exactly those bytes,
   and the card checks (`CardVerifier`) verify the answer. That opens a registration session bound
   to the auth certificate; a card that already has a MyKey ID cannot open one. The origin lets
   the card helper on the resident's PC sign only statements issued for the page asking it.
2. A MyKey ID candidate is made one of two ways:
   - auto-generate: at most 3 times; the 3rd generated value becomes the MyKey ID (fixed);
   - own choice + duplicate check: a taken ID is an error; on the 3rd error (and each after) a
     candidate is generated automatically and shown. A malformed candidate is a field error and
     does not count as a duplicate error.
3. Completion: password (6-16 half-width alphanumerics) twice, optional e-mail twice, the
   notices wanted, and the home municipality (prefecture + municipality). Every wrong field gets
   its own message, all at once. The ID is registered on the ledger and the account stored in one
   step: if the ledger refuses, nothing is stored.

"Taken" means registered in the private store or on the ledger (IDs are never reused).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.email_addresses import is_valid_email
from api.errors import (
    CandidateFixed,
    CardAlreadyRegistered,
    ChallengeExpired,
    Conflict,
    FieldError,
    GenerationLimitReached,
    InvalidFields,
    MykeyIdTaken,
    RegistrationExpired,
)
from api.identifiers import (
    MYKEY_ID_LENGTH,
    MYKEY_ID_PATTERN,
    MunicipalityCode,
    MykeyId,
    parse_municipality_code,
)
from api.messages import FIELD_MESSAGES, Message
from api.municipalities import find_municipality, find_prefecture
from api.notices.outbox import enqueue_notice
from api.notices.render import NoticeKind
from api.passwords import PasswordService, is_valid_resident_password
from api.ports import CardVerifier, MykeyIdLedger, TransactionHash
from api.services.audit import Actor, ActorKind, record_audit
from api.store.models import Account, CardChallenge, Registration
from api.tokens import new_token
from card_bridge.browser_helper.registration_statement import (
    CHALLENGE_BYTES,
    NO_ORIGIN,
    MalformedChallenge,
    RegistrationStatement,
    is_exact_origin,
    parse_registration_statement,
)

MAX_GENERATIONS = 3
"""Deck screen 16: 自動生成は３回まで; the 3rd generated value is registered."""

DUPLICATE_ERRORS_BEFORE_GENERATION = 3
"""Deck screen 16: 3回エラーとなった場合、マイキーID候補が自動生成され…表示されます."""

GENERATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Upper-case letters and digits without I, O, 0 and 1, which people misread when copying."""

CandidateSource = Callable[[], MykeyId]

ORIGIN_FORMAT = Message(
    "ページのオリジンが正しくありません（scheme://host[:port] の形）。",
    "The page origin must be exactly scheme://host[:port], as a browser sends it.",
)

_CARD_REGISTERED = Message(
    "このカードには既にマイキーIDが登録されています。", "This card already has a MyKey ID."
)


def random_candidate() -> MykeyId:
    """Return a random 8-character candidate from GENERATION_ALPHABET (40 bits)."""
    return MykeyId("".join(secrets.choice(GENERATION_ALPHABET) for _ in range(MYKEY_ID_LENGTH)))


@dataclass(frozen=True)
class IssuedChallenge:
    """A registration statement for the card to sign, and the id to answer it with."""

    challenge_id: str
    statement: bytes
    origin: str
    expires_at: int


@dataclass(frozen=True)
class CandidateState:
    """Where a registration stands after a generate or a duplicate check."""

    registration_id: str
    candidate: MykeyId | None
    generations_used: int
    duplicate_errors: int
    candidate_fixed: bool

    @property
    def generations_left(self) -> int:
        """Auto-generations the resident may still ask for."""
        return 0 if self.candidate_fixed else MAX_GENERATIONS - self.generations_used


@dataclass(frozen=True)
class RegistrationForm:
    """What the resident typed on screen 16 besides the candidate."""

    password: str
    password_confirmation: str
    email: str | None
    email_confirmation: str | None
    notify_points_granted: bool
    notify_points_expired: bool
    notify_password_changed: bool
    notify_mykey_id_changes: bool
    prefecture_code: str
    municipality_code: str


@dataclass(frozen=True)
class CompletedRegistration:
    """A registered MyKey ID."""

    mykey_id: MykeyId
    home_municipality: MunicipalityCode
    transaction_hash: TransactionHash


@dataclass(frozen=True)
class RegistrationContext:
    """The collaborators every registration step needs."""

    db: Session
    ledger: MykeyIdLedger
    generate: CandidateSource
    now: int


def issue_card_challenge(
    *, db: Session, now: int, ttl_seconds: int, origin: str | None
) -> IssuedChallenge:
    """Store and return a fresh registration statement valid for `ttl_seconds`, usable once.

    `origin` is the page's origin (`scheme://host[:port]`, exactly as a browser sends it), or None
    for a client that is not a page (the statement says "-"). Raises InvalidFields (field
    `origin`) for an origin that is not in that exact form.
    """
    if origin is not None and not is_exact_origin(origin):
        raise InvalidFields([FieldError("origin", "origin-format", ORIGIN_FORMAT)])
    statement = RegistrationStatement(
        challenge=secrets.token_bytes(CHALLENGE_BYTES),
        origin=NO_ORIGIN if origin is None else origin,
        expires_at=now + ttl_seconds,
    )
    challenge = CardChallenge(
        id=new_token(),
        challenge=statement.encode(),
        expires_at=statement.expires_at,
        used=False,
    )
    db.add(challenge)
    db.commit()
    return IssuedChallenge(
        challenge.id, challenge.challenge, statement.origin, statement.expires_at
    )


def open_registration(
    *,
    db: Session,
    cards: CardVerifier,
    challenge_id: str,
    certificate_der: bytes,
    signature: bytes,
    now: int,
    ttl_seconds: int,
) -> CandidateState:
    """Verify the card's answer to our registration statement and open a registration session.

    The signature must cover exactly the stored statement bytes. The challenge is spent even
    when the answer is wrong (one try per challenge). Raises
    ChallengeExpired, CardVerificationFailed (from the card checks), CardAlreadyRegistered.
    """
    challenge = db.get(CardChallenge, challenge_id)
    if (
        challenge is None
        or challenge.used
        or challenge.expires_at <= now
        # the table also holds reserve-placement and rebinding statements: not ours to spend
        or not _is_registration_statement(challenge.challenge)
    ):
        raise ChallengeExpired(
            Message(
                "カード認証の有効期限が切れました。もう一度カードをかざしてください。",
                "The card challenge has expired or was used. Please read the card again.",
            )
        )
    challenge.used = True
    db.commit()
    card = cards.verify_challenge_response(
        challenge=challenge.challenge,
        certificate_der=certificate_der,
        signature=signature,
        now=now,
    )
    bound = db.scalars(
        select(Account.mykey_id).where(
            Account.certificate_fingerprint == card.certificate_fingerprint
        )
    ).one_or_none()
    if bound is not None:
        raise CardAlreadyRegistered(_CARD_REGISTERED)
    registration = Registration(
        id=new_token(),
        certificate_fingerprint=card.certificate_fingerprint,
        certificate_not_after=card.certificate_not_after,
        candidate=None,
        candidate_checked=False,
        generations=0,
        duplicate_errors=0,
        candidate_fixed=False,
        completed=False,
        expires_at=now + ttl_seconds,
    )
    db.add(registration)
    db.commit()
    return _state(registration)


def generate_candidate(*, context: RegistrationContext, registration_id: str) -> CandidateState:
    """Show a new auto-generated candidate; the 3rd one becomes the MyKey ID.

    Raises GenerationLimitReached for a 4th request, RegistrationExpired.
    """
    registration = _open_registration(context, registration_id)
    if registration.candidate_fixed or registration.generations >= MAX_GENERATIONS:
        raise GenerationLimitReached(
            Message(
                "マイキーID候補の自動生成は3回までです。3回目に生成された候補がマイキーIDになります。",
                "A candidate can be auto-generated at most 3 times; the 3rd one is the MyKey ID.",
            ),
            extensions={"candidate": registration.candidate},
        )
    registration.candidate = _free_candidate(context)
    registration.candidate_checked = True
    registration.generations += 1
    registration.candidate_fixed = registration.generations >= MAX_GENERATIONS
    context.db.commit()
    return _state(registration)


def check_candidate(
    *, context: RegistrationContext, registration_id: str, candidate: str
) -> CandidateState:
    """Run the duplicate check on the resident's own candidate.

    Returns the state with the candidate accepted. Raises InvalidFields for a malformed candidate,
    CandidateFixed after the 3rd generation, and MykeyIdTaken for a taken one (its extensions
    carry `duplicate_errors` and, from the 3rd error on, the `generated_candidate` now shown).
    """
    registration = _open_registration(context, registration_id)
    if registration.candidate_fixed:
        raise CandidateFixed(
            Message(
                "3回目に自動生成されたマイキーID候補がマイキーIDとなるため、変更できません。",
                "The 3rd auto-generated candidate is the MyKey ID and cannot be changed.",
            ),
            extensions={"candidate": registration.candidate},
        )
    if MYKEY_ID_PATTERN.fullmatch(candidate) is None:
        raise InvalidFields([FieldError.of("candidate", "mykey-id-format")])
    if not _is_taken(context, MykeyId(candidate)):
        registration.candidate = candidate
        registration.candidate_checked = True
        context.db.commit()
        return _state(registration)
    registration.duplicate_errors += 1
    extensions: dict[str, object] = {"duplicate_errors": registration.duplicate_errors}
    if registration.duplicate_errors >= DUPLICATE_ERRORS_BEFORE_GENERATION:
        generated = _free_candidate(context)
        registration.candidate = generated
        registration.candidate_checked = True
        extensions["generated_candidate"] = generated
    else:
        registration.candidate_checked = registration.candidate is not None
    context.db.commit()
    taken = FIELD_MESSAGES["mykey-id-taken"]
    raise MykeyIdTaken(taken, extensions=extensions)


def complete_registration(
    *,
    context: RegistrationContext,
    passwords: PasswordService,
    registration_id: str,
    form: RegistrationForm,
    mail_domain: str,
) -> CompletedRegistration:
    """Register the candidate as the MyKey ID with the form's settings.

    Raises InvalidFields (every wrong field at once), MykeyIdTaken if the candidate was taken
    meanwhile, RegistrationExpired, and whatever the ledger raises (nothing is stored then).
    """
    db = context.db
    registration = _open_registration(context, registration_id)
    errors = validate_form(form)
    if registration.candidate is None or not registration.candidate_checked:
        errors.insert(0, FieldError.of("candidate", "mykey-id-unchecked"))
    if errors:
        raise InvalidFields(errors)
    assert registration.candidate is not None  # checked just above
    mykey_id = MykeyId(registration.candidate)
    if _is_taken(context, mykey_id):
        if registration.candidate_fixed:
            registration.candidate = _free_candidate(context)
        else:
            registration.candidate_checked = False
        db.commit()
        raise MykeyIdTaken(
            FIELD_MESSAGES["mykey-id-taken"], extensions={"candidate": registration.candidate}
        )
    home = parse_municipality_code(form.municipality_code)
    email = form.email or None
    account = Account(
        mykey_id=mykey_id,
        certificate_fingerprint=registration.certificate_fingerprint,
        certificate_not_after=registration.certificate_not_after,
        password_hash=passwords.hash(form.password),
        email=email,
        notify_points_granted=form.notify_points_granted,
        notify_points_expired=form.notify_points_expired,
        notify_password_changed=form.notify_password_changed,
        notify_mykey_id_changes=form.notify_mykey_id_changes,
        home_prefecture=form.prefecture_code,
        home_municipality=home,
        failed_login_count=0,
        locked_until=None,
        created_at=context.now,
        password_changed_at=context.now,
    )
    db.add(account)
    registration.completed = True
    try:
        # a unique-constraint clash (same card or ID in a race) fails here, before the ledger
        db.flush()
    except IntegrityError as error:
        db.rollback()
        raise _clash(context, registration.certificate_fingerprint, mykey_id) from error
    try:
        transaction_hash = context.ledger.register_mykey_id(
            mykey_id=mykey_id, home_municipality=home
        )
    except Exception:
        db.rollback()
        raise
    audit = record_audit(
        db=db,
        at=context.now,
        actor=Actor(ActorKind.RESIDENT, mykey_id),
        action="resident.mykey-id-registered",
        target=mykey_id,
        transaction_hash=transaction_hash,
        detail={
            "home_municipality": home,
            # a prefix of the certificate fingerprint lets an auditor find the card binding
            "certificate": registration.certificate_fingerprint[:16],
        },
    )
    enqueue_notice(
        db=db,
        account=account,
        kind=NoticeKind.MYKEY_ID_REGISTERED,
        idempotency_key=f"audit:{audit.id}",
        facts={"mykey_id": mykey_id},
        now=context.now,
        mail_domain=mail_domain,
    )
    db.commit()
    return CompletedRegistration(mykey_id, home, transaction_hash)


def validate_form(form: RegistrationForm) -> list[FieldError]:
    """Return one error per wrong field of the completion form (empty when all are right)."""
    errors: list[FieldError] = []
    if not form.password:
        errors.append(FieldError.of("password", "required"))
    elif not is_valid_resident_password(form.password):
        errors.append(FieldError.of("password", "password-format"))
    if form.password and form.password_confirmation != form.password:
        errors.append(FieldError.of("password_confirmation", "password-confirmation-mismatch"))
    if form.email:
        if not is_valid_email(form.email):
            errors.append(FieldError.of("email", "email-format"))
        elif not form.email_confirmation:
            errors.append(FieldError.of("email_confirmation", "email-confirmation-missing"))
        elif form.email_confirmation != form.email:
            errors.append(FieldError.of("email_confirmation", "email-confirmation-mismatch"))
    elif form.email_confirmation:
        errors.append(FieldError.of("email", "required"))
    prefecture = find_prefecture(form.prefecture_code)
    if prefecture is None:
        errors.append(FieldError.of("prefecture_code", "prefecture-unknown"))
    try:
        code = parse_municipality_code(form.municipality_code)
    except ValueError:
        errors.append(FieldError.of("municipality_code", "municipality-code-format"))
    else:
        if prefecture is not None and (
            find_municipality(prefecture_code=prefecture.code, municipality_code=code) is None
        ):
            errors.append(FieldError.of("municipality_code", "municipality-unknown"))
    return errors


def _clash(
    context: RegistrationContext, certificate_fingerprint: str, mykey_id: MykeyId
) -> Conflict:
    """Return the error for a registration that lost a race to another one."""
    card_taken = context.db.scalars(
        select(Account.id).where(Account.certificate_fingerprint == certificate_fingerprint)
    ).one_or_none()
    if card_taken is not None:
        return CardAlreadyRegistered(_CARD_REGISTERED)
    return MykeyIdTaken(FIELD_MESSAGES["mykey-id-taken"], extensions={"candidate": mykey_id})


def _open_registration(context: RegistrationContext, registration_id: str) -> Registration:
    registration = context.db.get(Registration, registration_id)
    if registration is None or registration.completed or registration.expires_at <= context.now:
        raise RegistrationExpired(
            Message(
                "登録の有効期限が切れたか、既に登録が完了しています。カード認証からやり直してください。",
                "This registration has expired or is complete. Start again with the card.",
            )
        )
    return registration


def _is_taken(context: RegistrationContext, mykey_id: MykeyId) -> bool:
    in_store = context.db.scalars(
        select(Account.id).where(Account.mykey_id == mykey_id)
    ).one_or_none()
    return in_store is not None or context.ledger.is_mykey_id_taken(mykey_id)


def _free_candidate(context: RegistrationContext, tries: int = 32) -> MykeyId:
    """Return a generated candidate nobody holds; 40 random bits make a clash rare."""
    for _ in range(tries):
        candidate = context.generate()
        if not _is_taken(context, candidate):
            return candidate
    raise RuntimeError(f"no free MyKey ID candidate in {tries} tries: is the generator random?")


def _is_registration_statement(data: bytes) -> bool:
    try:
        parse_registration_statement(data)
    except MalformedChallenge:
        return False
    return True


def _state(registration: Registration) -> CandidateState:
    return CandidateState(
        registration_id=registration.id,
        candidate=MykeyId(registration.candidate) if registration.candidate else None,
        generations_used=registration.generations,
        duplicate_errors=registration.duplicate_errors,
        candidate_fixed=registration.candidate_fixed,
    )
