"""MyKey ID registration (deck screen 16): card challenge, candidates, completion.

The card challenge is a registration statement bound to the page that asked for it: its origin
comes from the request's Origin header (a browser sends one with every POST), or from the body's
`origin` for a client that is not a browser but speaks for a page; when both are present they
must be equal. Without either the statement says `origin=-`, which the card helper never signs.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Header, Path, status

from api.deps import DbDep, ServicesDep
from api.errors import FieldError, InvalidFields
from api.messages import Message
from api.schemas.problems import Problem
from api.schemas.registrations import (
    CandidateCheckRequest,
    CardAnswerRequest,
    CardChallengeRequest,
    CardChallengeResponse,
    RegistrationCompletedResponse,
    RegistrationCompletionRequest,
    RegistrationStateResponse,
)
from api.services import registration
from api.services.registration import CandidateState, RegistrationContext, RegistrationForm

router = APIRouter(prefix="/registrations", tags=["registration"])

RegistrationId = Annotated[str, Path(max_length=64, description="From `POST /registrations`.")]

_PROBLEMS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem},
    409: {"model": Problem, "description": "Taken ID, 4th generation, or fixed candidate."},
    410: {"model": Problem, "description": "Registration expired or completed."},
    422: {"model": Problem, "description": "One entry per wrong field."},
}


ORIGIN_MISMATCH = Message(
    "origin がリクエストの Origin ヘッダーと一致しません。",
    "The body's origin differs from the request's Origin header.",
)


def _statement_origin(header: str | None, body: CardChallengeRequest | None) -> str | None:
    """Return the origin the statement names (None: not a page); InvalidFields on a clash."""
    claimed = body.origin if body is not None else None
    if header is not None and claimed is not None and header != claimed:
        raise InvalidFields([FieldError("origin", "origin-mismatch", ORIGIN_MISMATCH)])
    return header if header is not None else claimed


def _state_response(state: CandidateState) -> RegistrationStateResponse:
    return RegistrationStateResponse(
        registration_id=state.registration_id,
        candidate=state.candidate,
        generations_used=state.generations_used,
        generations_left=state.generations_left,
        duplicate_errors=state.duplicate_errors,
        candidate_fixed=state.candidate_fixed,
    )


def _base64_field(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidFields([FieldError.of(field, "invalid")]) from error


def _context(services: ServicesDep, db: DbDep) -> RegistrationContext:
    return RegistrationContext(
        db=db,
        ledger=services.ledger,
        generate=services.generate_candidate,
        now=services.clock.now(),
    )


@router.post(
    "/card-challenges",
    status_code=status.HTTP_201_CREATED,
    summary="Get a registration statement for the card to sign",
    responses={422: {"model": Problem, "description": "Origin malformed or contradicted."}},
)
def create_card_challenge(
    services: ServicesDep,
    db: DbDep,
    body: CardChallengeRequest | None = None,
    origin: Annotated[str | None, Header(max_length=255)] = None,
) -> CardChallengeResponse:
    """Step 1: a one-time registration statement (base64url in `challenge`) that the card signs
    after the resident enters the PIN: `mykey-ledger/registration/v1`, `challenge=`, `origin=`,
    `expires_at=` lines (docs/card-helper.md). Sign the decoded bytes exactly as they are."""
    issued = registration.issue_card_challenge(
        db=db,
        now=services.clock.now(),
        ttl_seconds=services.settings.challenge_ttl_seconds,
        origin=_statement_origin(origin, body),
    )
    return CardChallengeResponse(
        challenge_id=issued.challenge_id,
        challenge=base64.urlsafe_b64encode(issued.statement).rstrip(b"=").decode("ascii"),
        expires_at=issued.expires_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Open a registration with the card's answer",
    responses={
        401: {"model": Problem, "description": "The card's answer did not verify."},
        409: {"model": Problem, "description": "This card already has a MyKey ID."},
        410: {"model": Problem, "description": "Challenge unknown, used or expired."},
        422: {"model": Problem},
        503: {"model": Problem, "description": "Card checks unavailable."},
    },
)
def open_registration(
    body: CardAnswerRequest, services: ServicesDep, db: DbDep
) -> RegistrationStateResponse:
    """Step 2: the card proves possession; a registration session opens for that card."""
    certificate = _base64_field(body.certificate, "certificate")
    signature = _base64_field(body.signature, "signature")
    state = registration.open_registration(
        db=db,
        cards=services.cards,
        challenge_id=body.challenge_id,
        certificate_der=certificate,
        signature=signature,
        now=services.clock.now(),
        ttl_seconds=services.settings.registration_ttl_seconds,
    )
    return _state_response(state)


@router.post(
    "/{registration_id}/generated-candidates",
    summary="Auto-generate a MyKey ID candidate (at most 3 times)",
    responses=_PROBLEMS,
)
def generate_candidate(
    registration_id: RegistrationId, services: ServicesDep, db: DbDep
) -> RegistrationStateResponse:
    """The 「自動生成」 button. The 3rd generated value becomes the MyKey ID."""
    state = registration.generate_candidate(
        context=_context(services, db), registration_id=registration_id
    )
    return _state_response(state)


@router.post(
    "/{registration_id}/candidate-checks",
    summary="Duplicate check of an own MyKey ID candidate",
    responses=_PROBLEMS,
)
def check_candidate(
    registration_id: RegistrationId, body: CandidateCheckRequest, services: ServicesDep, db: DbDep
) -> RegistrationStateResponse:
    """The 「重複チェック」 button. A taken ID is a 409 problem; from the 3rd error on, the
    problem's `generated_candidate` is a generated candidate now shown in the field."""
    state = registration.check_candidate(
        context=_context(services, db),
        registration_id=registration_id,
        candidate=body.candidate,
    )
    return _state_response(state)


@router.post(
    "/{registration_id}/completion",
    status_code=status.HTTP_201_CREATED,
    summary="Register the MyKey ID with password, e-mail, notices and home municipality",
    responses={**_PROBLEMS, 503: {"model": Problem, "description": "Ledger unavailable."}},
)
def complete_registration(
    registration_id: RegistrationId,
    body: RegistrationCompletionRequest,
    services: ServicesDep,
    db: DbDep,
) -> RegistrationCompletedResponse:
    """The 「登録」 button. Every wrong field gets its own entry in the 422 problem's `errors`."""
    form = RegistrationForm(
        password=body.password,
        password_confirmation=body.password_confirmation,
        email=body.email,
        email_confirmation=body.email_confirmation,
        notify_points_granted=body.notices.points_granted,
        notify_points_expired=body.notices.points_expired,
        notify_password_changed=body.notices.password_changed,
        notify_mykey_id_changes=body.notices.mykey_id_changes,
        prefecture_code=body.prefecture_code,
        municipality_code=body.municipality_code,
    )
    completed = registration.complete_registration(
        context=_context(services, db),
        passwords=services.passwords,
        registration_id=registration_id,
        form=form,
        mail_domain=services.mail_domain,
    )
    return RegistrationCompletedResponse(
        mykey_id=completed.mykey_id,
        home_municipality=completed.home_municipality,
        transaction_hash=completed.transaction_hash,
    )
