"""Bodies of the staff endpoints: login, accounts, audit records, operator health."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.services.staff import StaffRole


class StaffLoginRequest(BaseModel):
    """Staff login name + password."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"login_name": "kawasaki.staff", "password": "correct horse battery"}]
        }
    )

    login_name: str = Field(max_length=64)
    password: str = Field(max_length=256)


class StaffSessionResponse(BaseModel):
    """A staff session: send the token as `Authorization: Bearer <token>`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "p0Oi9Uy8Tr7Ew6Qa5Sd4Fg3Hj2Kl1Zx0Cv9Bn8Mm7Lk",
                    "token_type": "bearer",
                    "expires_at": 1790001800,
                    "role": "municipal-staff",
                }
            ]
        }
    )

    token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type name
    expires_at: int
    role: StaffRole


class StaffAccountCreateRequest(BaseModel):
    """A new staff account."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "login_name": "kawasaki.treasurer",
                    "password": "long enough passphrase",
                    "role": "treasurer",
                    "organisation": "14130",
                }
            ]
        }
    )

    login_name: str = Field(max_length=64, description="3-64 of A-Z a-z 0-9 . _ - @")
    password: str = Field(max_length=256, description="12-128 characters.")
    role: str = Field(max_length=32, description="One of the staff roles.")
    organisation: str | None = Field(
        default=None, max_length=64, description="Municipality code, partner or business."
    )


class StaffAccountResponse(BaseModel):
    """A staff account (never its password hash)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 2,
                    "login_name": "kawasaki.treasurer",
                    "role": "treasurer",
                    "organisation": "14130",
                    "active": True,
                    "created_at": 1790000000,
                }
            ]
        }
    )

    id: int
    login_name: str
    role: str
    organisation: str | None
    active: bool
    created_at: int


class AuditRecordResponse(BaseModel):
    """One audit record."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "at": 1790000000,
                    "actor_kind": "staff",
                    "actor": "platform.admin",
                    "action": "staff.created",
                    "target": "kawasaki.treasurer",
                    "transaction_hash": None,
                    "detail": {"role": "treasurer", "organisation": "14130"},
                }
            ]
        }
    )

    id: int
    at: int
    actor_kind: str
    actor: str
    action: str
    target: str
    transaction_hash: str | None
    detail: dict[str, object]


class HealthResponse(BaseModel):
    """The operator's health report."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "database_ok": True,
                    "schema_version": 1,
                    "schema_latest": 1,
                    "outbox_pending": 0,
                    "outbox_failed": 0,
                    "outbox_oldest_pending_age": None,
                    "problems": [],
                }
            ]
        }
    )

    status: str = Field(description="`ok` or `degraded`.")
    database_ok: bool
    schema_version: int
    schema_latest: int
    outbox_pending: int
    outbox_failed: int
    outbox_oldest_pending_age: int | None = Field(description="Seconds, or null when none wait.")
    problems: list[str]


class LivenessResponse(BaseModel):
    """The process answers."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str
