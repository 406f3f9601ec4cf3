"""Bodies of the residents' My Page endpoints: login and own account."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoginRequest(BaseModel):
    """MyKey ID + My Page password."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mykey_id": "K7M2Q9XA", "password": "Abc12345"}]}
    )

    mykey_id: str = Field(max_length=64)
    password: str = Field(max_length=256)


class SessionResponse(BaseModel):
    """A new session: send the token as `Authorization: Bearer <token>`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "x8W1u3pTq0ZrYkD2mN5bC7vF9gH4jL6sA1eR3tU5wQy",
                    "token_type": "bearer",
                    "expires_at": 1790001800,
                }
            ]
        }
    )

    token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type name
    expires_at: int = Field(description="Unix seconds.")


class NoticeChoicesView(BaseModel):
    """The notices the resident receives."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "points_granted": True,
                    "points_expired": False,
                    "password_changed": True,
                    "mykey_id_changes": True,
                }
            ]
        }
    )

    points_granted: bool
    points_expired: bool
    password_changed: bool
    mykey_id_changes: bool


class AccountResponse(BaseModel):
    """The resident's own settings as My Page shows them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mykey_id": "K7M2Q9XA",
                    "email": "resident@example.jp",
                    "notices": {
                        "points_granted": True,
                        "points_expired": True,
                        "password_changed": True,
                        "mykey_id_changes": True,
                    },
                    "home_prefecture": "14",
                    "home_municipality": "14130",
                    "registered_at": 1790000000,
                }
            ]
        }
    )

    mykey_id: str
    email: str | None
    notices: NoticeChoicesView
    home_prefecture: str
    home_municipality: str
    registered_at: int


class PasswordChangeRequest(BaseModel):
    """Current password, and the new one typed twice."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_password": "Abc12345",
                    "new_password": "Xyz98765",
                    "new_password_confirmation": "Xyz98765",
                }
            ]
        }
    )

    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256, description="6-16 half-width letters or digits.")
    new_password_confirmation: str = Field(max_length=256)
