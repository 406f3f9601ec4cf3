"""Bodies of the grant endpoints: one grant, and the per-line report of a CSV batch."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.problems import FieldProblem

EXAMPLE_HASH = "0x" + "5e" * 32


class GrantRequest(BaseModel):
    """Administrative points for one resident's activity."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"mykey_id": "TANAKA01", "points": 200, "activity": "volunteering"}]
        }
    )

    mykey_id: str = Field(max_length=64, description="8 half-width upper-case letters/digits.")
    points: int = Field(ge=1, le=100_000, description="1 point = 1 yen.")
    activity: str = Field(
        max_length=32,
        description="volunteering, event-participation, health-walk-rally or other.",
    )


class GrantResponse(BaseModel):
    """A grant on the ledger."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mykey_id": "TANAKA01",
                    "municipality": "14130",
                    "points": 200,
                    "activity": "volunteering",
                    "outcome": "granted",
                    "transaction_hash": EXAMPLE_HASH,
                }
            ]
        }
    )

    mykey_id: str
    municipality: str
    points: int
    activity: str
    outcome: str = Field(description="`granted`, or `already-granted` for a repeated key.")
    transaction_hash: str | None


class GrantLineReport(BaseModel):
    """What became of one CSV line."""

    line: int = Field(description="Line number in the CSV (the header is line 1).")
    mykey_id: str
    points: int | None
    activity: str
    outcome: str = Field(description="granted, already-granted, refused or in-doubt.")
    transaction_hash: str | None
    errors: list[FieldProblem]
    reason: str | None = Field(description="Why the ledger refused or the outcome is unknown.")


class GrantBatchReport(BaseModel):
    """Every line of a batch, with totals."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_key": "3f1c…",
                    "municipality": "14130",
                    "granted": 1,
                    "already_granted": 0,
                    "refused": 1,
                    "in_doubt": 0,
                    "points_granted": 200,
                    "lines": [
                        {
                            "line": 2,
                            "mykey_id": "TANAKA01",
                            "points": 200,
                            "activity": "volunteering",
                            "outcome": "granted",
                            "transaction_hash": EXAMPLE_HASH,
                            "errors": [],
                            "reason": None,
                        },
                        {
                            "line": 3,
                            "mykey_id": "tanaka02",
                            "points": 200,
                            "activity": "volunteering",
                            "outcome": "refused",
                            "transaction_hash": None,
                            "errors": [
                                {
                                    "field": "mykey_id",
                                    "code": "mykey-id-format",
                                    "message": "マイキーID候補は8ケタの半角大文字英数字で"
                                    "入力してください。",
                                }
                            ],
                            "reason": None,
                        },
                    ],
                }
            ]
        }
    )

    batch_key: str
    municipality: str
    granted: int
    already_granted: int
    refused: int
    in_doubt: int
    points_granted: int
    lines: list[GrantLineReport]
