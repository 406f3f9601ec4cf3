"""Administrative point grants by municipal staff: one resident, or a CSV of a day's volunteers.

Send an `Idempotency-Key` header to make a retry safe; a batch without one is keyed by its
content, so uploading the same file twice grants once. If the ledger goes down in mid-batch the
answer is a 503; the lines granted before it stay granted, and uploading the file again reports
them as `already-granted` and grants the rest.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status

from api.deps import CurrentStaff, DbDep, ServicesDep
from api.errors import FieldError, InvalidFields
from api.problems import preferred_language
from api.schemas.grants import GrantBatchReport, GrantLineReport, GrantRequest, GrantResponse
from api.schemas.problems import FieldProblem, Problem
from api.services import grants
from api.services.grants import GrantingContext, GrantLine, GrantOutcome, GrantResult
from api.store.models import StaffAccount
from api.tokens import new_token

router = APIRouter(
    prefix="/grants",
    tags=["grants"],
    responses={
        401: {"model": Problem},
        403: {"model": Problem, "description": "Not municipal staff of a participating city."},
        422: {"model": Problem},
        503: {"model": Problem, "description": "Ledger unavailable; nothing was granted."},
    },
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=64,
        pattern=r"^[\x21-\x7e]+$",
        description="Any printable ASCII text; the same key never grants twice.",
    ),
]

CSV_EXAMPLE = "mykey_id,points,activity\nTANAKA01,200,volunteering\nSUZUKI02,200,volunteering\n"


async def read_csv(request: Request) -> str:
    """Return the request body as text: UTF-8 (with or without BOM), else Shift_JIS (cp932)."""
    raw = await request.body()
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidFields([FieldError.of("body", "csv-encoding")])


CsvBody = Annotated[str, Depends(read_csv)]


def _context(services: ServicesDep, db: DbDep, staff: StaffAccount) -> GrantingContext:
    return GrantingContext.for_staff(
        db=db,
        ledger=services.points,
        staff=staff,
        now=services.clock.now(),
        mail_domain=services.mail_domain,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Grant administrative points to one resident",
    responses={
        200: {"model": GrantResponse, "description": "Already granted under this key."},
        409: {"model": Problem, "description": "Refused by the ledger, or outcome in doubt."},
    },
)
def grant_points(
    *,
    body: GrantRequest,
    staff: CurrentStaff,
    services: ServicesDep,
    db: DbDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> GrantResponse:
    """Grant points for an activity from the staff member's own municipality's budget."""
    context = _context(services, db, staff)
    result = grants.grant_single(
        context=context,
        line=GrantLine(body.mykey_id, str(body.points), body.activity),
        idempotency_key=f"{staff.organisation}:single:{idempotency_key or new_token()}",
    )
    if result.outcome is GrantOutcome.ALREADY_GRANTED:
        response.status_code = status.HTTP_200_OK
    return GrantResponse(
        mykey_id=result.mykey_id,
        municipality=context.municipality,
        points=body.points,
        activity=result.activity,
        outcome=result.outcome.value,
        transaction_hash=result.transaction_hash,
    )


@router.post(
    "/batches",
    summary="Grant points to every line of a CSV (mykey_id,points,activity)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
        }
    },
)
def grant_batch(
    *,
    request: Request,
    csv_text: CsvBody,
    staff: CurrentStaff,
    services: ServicesDep,
    db: DbDep,
    idempotency_key: IdempotencyKey = None,
) -> GrantBatchReport:
    """Each line is granted or refused on its own; the report says which and why, by line."""
    context = _context(services, db, staff)
    batch_key = idempotency_key or hashlib.sha256(csv_text.encode("utf-8")).hexdigest()
    results = grants.grant_batch(
        context=context, csv_text=csv_text, batch_key=f"{staff.organisation}:batch:{batch_key}"
    )
    language = preferred_language(request)

    def line_report(result: GrantResult) -> GrantLineReport:
        return GrantLineReport(
            line=result.line,
            mykey_id=result.mykey_id,
            points=result.points,
            activity=result.activity,
            outcome=result.outcome.value,
            transaction_hash=result.transaction_hash,
            errors=[
                FieldProblem(
                    field=error.field, code=error.code, message=error.message.in_language(language)
                )
                for error in result.errors
            ],
            reason=result.reason.in_language(language) if result.reason else None,
        )

    def count(outcome: GrantOutcome) -> int:
        return sum(result.outcome is outcome for result in results)

    return GrantBatchReport(
        batch_key=batch_key,
        municipality=context.municipality,
        granted=count(GrantOutcome.GRANTED),
        already_granted=count(GrantOutcome.ALREADY_GRANTED),
        refused=count(GrantOutcome.REFUSED),
        in_doubt=count(GrantOutcome.IN_DOUBT),
        points_granted=sum(
            result.points or 0 for result in results if result.outcome is GrantOutcome.GRANTED
        ),
        lines=[line_report(result) for result in results],
    )
