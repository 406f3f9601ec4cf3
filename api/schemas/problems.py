"""The RFC 9457 problem details body, as documented in the OpenAPI schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FieldProblem(BaseModel):
    """One wrong field."""

    field: str = Field(description="Dotted path of the field, e.g. `password_confirmation`.")
    code: str = Field(description="Stable reason code, e.g. `password-format`.")
    message: str = Field(description="What to do, in the response language (Japanese default).")


class Problem(BaseModel):
    """An error, as `application/problem+json` (RFC 9457). Extensions may add members."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:mykey-ledger:problem:invalid-fields",
                    "title": "Some fields are not valid",
                    "status": 422,
                    "detail": "入力内容に誤りがあります。各項目のメッセージを確認してください。",
                    "instance": "/registrations/abc/completion",
                    "errors": [
                        {
                            "field": "password",
                            "code": "password-format",
                            "message": "パスワードは6～16ケタの半角英数字で入力してください。",
                        }
                    ],
                }
            ]
        },
    )

    type: str = Field(description="URI naming the kind of problem; `about:blank` for plain HTTP.")
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None
