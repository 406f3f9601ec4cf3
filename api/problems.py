"""Every error the API answers, as RFC 9457 problem details (`application/problem+json`).

Handlers are installed by `install_problem_handlers`: the API's own `ApiError`s, request
validation (one entry per wrong field in `errors`), Starlette's HTTP errors (404, 405, …) and,
last, anything unexpected (500 without a stack trace or internal detail). Messages are Japanese
unless the client prefers English (`Accept-Language`); `Content-Language` says which was used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ApiError, FieldError, InvalidFields
from api.messages import FIELD_MESSAGES, Message

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:mykey-ledger:problem:"

logger = logging.getLogger(__name__)

_FIELD_FORMAT_CODES: dict[str, str] = {
    "candidate": "mykey-id-format",
    "mykey_id": "mykey-id-format",
    "password": "password-format",
    "new_password": "password-format",
    "email": "email-format",
    "municipality_code": "municipality-code-format",
    "prefecture_code": "prefecture-unknown",
    "login_name": "login-name-format",
    "role": "role-unknown",
    "points": "points-range",
    "activity": "activity-unknown",
}
"""For a field with a known rule, a schema violation gets that rule's message."""

_HTTP_MESSAGES: dict[int, Message] = {
    404: Message("指定されたページは見つかりません。", "Nothing is found at this address."),
    405: Message(
        "このアドレスではその操作はできません。", "This method is not allowed at this address."
    ),
    413: Message("送信内容が大きすぎます。", "The request body is too large."),
    415: Message("送信内容の形式に対応していません。", "This media type is not supported."),
}
_INTERNAL = Message(
    "内部エラーが発生しました。しばらくしてからもう一度お試しください。",
    "An internal error occurred. Please try again later.",
)


def preferred_language(request: Request) -> str:
    """Return "en" when English is preferred over Japanese in Accept-Language, else "ja"."""
    header = request.headers.get("accept-language", "")
    best, best_q = "ja", 0.0
    for part in header.split(","):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        q = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag.startswith(("en", "ja")) and q > best_q:
            best, best_q = tag[:2], q
    return best


def problem_response(
    request: Request,
    *,
    status: int,
    problem_type: str,
    title: str,
    message: Message,
    errors: Sequence[FieldError] = (),
    extensions: Mapping[str, object] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Return the problem-details response in the client's language."""
    language = preferred_language(request)
    body: dict[str, Any] = dict(extensions or {})
    body.update(
        {
            "type": problem_type,
            "title": title,
            "status": status,
            "detail": message.in_language(language),
            "instance": request.url.path,
        }
    )
    if errors:
        body["errors"] = [
            {
                "field": error.field,
                "code": error.code,
                "message": error.message.in_language(language),
            }
            for error in errors
        ]
    return JSONResponse(
        body,
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**dict(headers or {}), "Content-Language": language},
    )


def api_error_response(request: Request, error: ApiError) -> JSONResponse:
    """Return the problem response for one of the API's own errors."""
    return problem_response(
        request,
        status=error.status,
        problem_type=PROBLEM_TYPE_PREFIX + error.slug,
        title=error.title,
        message=error.message,
        errors=getattr(error, "errors", ()),
        extensions=error.extensions,
        headers=error.headers,
    )


def field_errors_from_validation(raw_errors: Sequence[Any]) -> list[FieldError]:
    """Turn Pydantic's validation errors into one FieldError per field (first reason wins)."""
    seen: dict[str, FieldError] = {}
    for raw in raw_errors:
        location = [str(part) for part in raw.get("loc", ())]
        if location and location[0] in {"body", "query", "path", "header", "cookie"}:
            location = location[1:]
        field = ".".join(location) or "body"
        kind = str(raw.get("type", ""))
        leaf = location[-1] if location else ""
        if kind == "missing":
            code = "required"
        elif kind in {"json_invalid", "model_attributes_type", "dict_type"} and field == "body":
            code = "invalid"
        elif leaf in _FIELD_FORMAT_CODES:
            code = _FIELD_FORMAT_CODES[leaf]
        elif kind == "string_too_long":
            code = "too-long"
        else:
            code = "invalid"
        seen.setdefault(field, FieldError(field, code, FIELD_MESSAGES[code]))
    return list(seen.values())


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of `app` answer as problem details."""

    async def on_api_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return api_error_response(request, error)

    async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)

        invalid = InvalidFields(field_errors_from_validation(error.errors()))
        return api_error_response(request, invalid)

    async def on_http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        phrase = HTTPStatus(error.status_code).phrase
        message = _HTTP_MESSAGES.get(error.status_code, Message(phrase, phrase))
        return problem_response(
            request,
            status=error.status_code,
            problem_type="about:blank",
            title=phrase,
            message=message,
            headers=error.headers,
        )

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request,
            status=500,
            problem_type=PROBLEM_TYPE_PREFIX + "internal-error",
            title="Internal error",
            message=_INTERNAL,
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
