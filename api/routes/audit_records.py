"""The audit log, read by platform administrators."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import DbDep, PlatformAdmin
from api.schemas.problems import Problem
from api.schemas.staff import AuditRecordResponse
from api.services.audit import list_audit_records

router = APIRouter(
    prefix="/audit-records",
    tags=["staff"],
    responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
)


@router.get("", summary="Audit records, newest first")
def list_records(
    admin: PlatformAdmin,
    db: DbDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditRecordResponse]:
    """Return records older than `before_id` (for paging), optionally of one action."""
    records = list_audit_records(db=db, limit=limit, before_id=before_id, action=action)
    return [
        AuditRecordResponse(
            id=record.id,
            at=record.at,
            actor_kind=record.actor_kind,
            actor=record.actor,
            action=record.action,
            target=record.target,
            transaction_hash=record.transaction_hash,
            detail=json.loads(record.detail),
        )
        for record in records
    ]
