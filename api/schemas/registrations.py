"""Bodies of the MyKey ID registration endpoints (deck screen 16)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_REGISTRATION_ID = "q3Zp0v8xS2mJk4Lr7TgH1bYc9NwAeUdFiOsKlPzQxRc"


class CardChallengeRequest(BaseModel):
    """Optional body of `POST /registrations/card-challenges`: the page the statement is for."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"origin": "https://mykey.example.jp"}]}
    )

    origin: str | None = Field(
        default=None,
        max_length=255,
        description="The page's origin, scheme://host[:port]; must equal the Origin header if "
        "one is sent.",
    )


class CardChallengeResponse(BaseModel):
    """A challenge for the card to sign (SHA-256 DigestInfo, RSASSA-PKCS1-v1_5)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "challenge_id": "Jr3k2l0qQ1m8Yc6vT0b7Xs9dE4fG5hI2jK3lM4nO5pQ",
                    "challenge": (
                        "bXlrZXktbGVkZ2VyL3JlZ2lzdHJhdGlvbi92MQpjaGFsbGVuZ2U9M3Q3ZTN0N2UzdDdlM3Q3"
                        "ZTN0N2UzdDdlM3Q3ZTN0N2UzdDdlM3Q3ZTN0NApvcmlnaW49aHR0cHM6Ly9teWtleS5leGFt"
                        "cGxlLmpwCmV4cGlyZXNfYXQ9MTc5MDAwMDMwMA"
                    ),
                    "expires_at": 1790000300,
                }
            ]
        }
    )

    challenge_id: str
    challenge: str = Field(
        description="A registration statement (docs/card-helper.md), base64url without padding; "
        "sign the decoded bytes as they are."
    )
    expires_at: int = Field(description="Unix seconds; the challenge can be answered once.")


class CardAnswerRequest(BaseModel):
    """The card's answer: its auth certificate and its signature over the challenge."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "challenge_id": "Jr3k2l0qQ1m8Yc6vT0b7Xs9dE4fG5hI2jK3lM4nO5pQ",
                    "certificate": "MIIDdzCCAl+gAwIBAgIE...",
                    "signature": "k1Vb0Qe2...",
                }
            ]
        }
    )

    challenge_id: str = Field(max_length=64)
    certificate: str = Field(
        max_length=8192, description="DER auth certificate (EF 000A), standard base64."
    )
    signature: str = Field(max_length=1024, description="256-byte signature, standard base64.")


class RegistrationStateResponse(BaseModel):
    """Where the registration stands: the candidate shown and what is left."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "registration_id": EXAMPLE_REGISTRATION_ID,
                    "candidate": "K7M2Q9XA",
                    "generations_used": 1,
                    "generations_left": 2,
                    "duplicate_errors": 0,
                    "candidate_fixed": False,
                }
            ]
        }
    )

    registration_id: str
    candidate: str | None = Field(description="The MyKey ID candidate now in the field, if any.")
    generations_used: int
    generations_left: int
    duplicate_errors: int
    candidate_fixed: bool = Field(description="True after the 3rd generation: this is the ID.")


class CandidateCheckRequest(BaseModel):
    """The resident's own candidate, for the duplicate check."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"candidate": "TANAKA01"}]})

    candidate: str = Field(max_length=64, description="8 half-width upper-case letters or digits.")


class NoticeChoices(BaseModel):
    """Which notices to receive by e-mail (deck screen 16's check boxes, all on by default)."""

    points_granted: bool = True
    points_expired: bool = True
    password_changed: bool = True
    mykey_id_changes: bool = Field(
        default=True, description="MyKey ID registered, changed or revoked."
    )


class RegistrationCompletionRequest(BaseModel):
    """Everything on screen 16 besides the candidate."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "password": "Abc12345",
                    "password_confirmation": "Abc12345",
                    "email": "resident@example.jp",
                    "email_confirmation": "resident@example.jp",
                    "notices": {
                        "points_granted": True,
                        "points_expired": True,
                        "password_changed": True,
                        "mykey_id_changes": True,
                    },
                    "prefecture_code": "14",
                    "municipality_code": "14130",
                }
            ]
        }
    )

    password: str = Field(max_length=256, description="6-16 half-width letters or digits.")
    password_confirmation: str = Field(max_length=256, description="Typed again, not pasted.")
    email: str | None = Field(default=None, max_length=320)
    email_confirmation: str | None = Field(default=None, max_length=320)
    notices: NoticeChoices = Field(default_factory=NoticeChoices)
    prefecture_code: str = Field(max_length=8, description="2 digits, e.g. `14` (Kanagawa).")
    municipality_code: str = Field(
        max_length=8, description="5 digits (or 6 with check digit), e.g. `14130`."
    )


class RegistrationCompletedResponse(BaseModel):
    """A registered MyKey ID."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mykey_id": "K7M2Q9XA",
                    "home_municipality": "14130",
                    "transaction_hash": "0x" + "ab" * 32,
                }
            ]
        }
    )

    mykey_id: str
    home_municipality: str
    transaction_hash: str = Field(description="The final ledger transaction of the registration.")
