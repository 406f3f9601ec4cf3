"""Operators: liveness for load balancers, and the health report for node operators."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import DbDep, Operator, ServicesDep
from api.schemas.problems import Problem
from api.schemas.staff import HealthResponse, LivenessResponse
from api.services.health import check_health

router = APIRouter(tags=["operator"])


@router.get("/health", summary="Liveness")
def liveness() -> LivenessResponse:
    """Answer `ok` while the process serves requests (no details, no login)."""
    return LivenessResponse(status="ok")


@router.get(
    "/operator/health",
    summary="Health report",
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        503: {"model": HealthResponse, "description": "Something is unhealthy; see `problems`."},
    },
)
def health(
    operator: Operator, services: ServicesDep, db: DbDep, response: Response
) -> HealthResponse:
    """Store reachable and migrated, outbox backlog; 503 with the same body when degraded."""
    report = check_health(db=db, now=services.clock.now())
    body = HealthResponse(
        status="ok" if report.healthy else "degraded",
        database_ok=report.database_ok,
        schema_version=report.schema_version,
        schema_latest=report.schema_latest,
        outbox_pending=report.outbox_pending,
        outbox_failed=report.outbox_failed,
        outbox_oldest_pending_age=report.outbox_oldest_pending_age,
        problems=list(report.problems),
    )
    if not report.healthy:
        response.status_code = 503
    return body
