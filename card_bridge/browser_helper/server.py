"""The card helper's HTTP server (aiohttp) on 127.0.0.1: `/v1/status` and `/v1/authentications`.

`GET /v1/status` -> `{"reader_present", "card_present", "busy"}`.
`POST /v1/authentications` with `{"challenge": <base64url statement>, "pin": "<4 digits>"}` ->
`{"certificate": <standard base64 DER>, "signature": <standard base64>}`.

Every request passes `origins.OriginPolicy` first (exact Origin match, loopback Host, preflight
rules); then a POST body must be JSON, at most `HelperConfig.max_body_bytes` long, with a
registration statement issued for the asking page and not yet expired (`signing_rule`) and a
4-digit PIN, before the card is touched. The clock is passed in (`build_app(clock=...)`), so
tests pin it. Refusals are problem details (`problems`).

Invariants: the server binds the loopback address only (`config.check_loopback` again right
before binding); the PIN is never logged (there is no access log, and the helper's own log lines
name only the origin and the outcome); card work runs in a worker thread so the server keeps
answering (a second authentication gets 409 card-busy instead of waiting).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from card_bridge.browser_helper.card_desk import CardDesk
from card_bridge.browser_helper.config import HelperConfig, check_loopback
from card_bridge.browser_helper.origins import (
    OriginPolicy,
    Refusal,
    cors_headers,
    preflight_headers,
)
from card_bridge.browser_helper.problems import (
    PROBLEM_MEDIA_TYPE,
    Problem,
    problem_for,
    request_problem,
)
from card_bridge.browser_helper.signing_rule import check_pin_shape, check_registration_statement
from card_bridge.errors import CardBridgeError

logger = logging.getLogger(__name__)

STATUS_PATH = "/v1/status"
AUTHENTICATIONS_PATH = "/v1/authentications"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_DESK: web.AppKey[CardDesk] = web.AppKey("desk", CardDesk)
_CONFIG: web.AppKey[HelperConfig] = web.AppKey("config", HelperConfig)

Clock = Callable[[], float]
"""Returns the current unix time in seconds."""

_CLOCK: web.AppKey[Clock] = web.AppKey("clock")


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> web.Response:
    """Return `problem` as an `application/problem+json` response."""
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.to_json()),
        content_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _refused(refusal: Refusal) -> web.Response:
    logger.warning("refused a request: %s", refusal.code)
    return problem_response(request_problem(refusal.status, refusal.code, refusal.detail))


def build_app(config: HelperConfig, desk: CardDesk, *, clock: Clock = time.time) -> web.Application:
    """Return the helper's aiohttp application (not yet listening); `clock` dates statements."""
    policy = OriginPolicy(config.allowed_origins)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":
            refusal = policy.refuse_preflight(request.headers)
            if refusal is not None:
                return _refused(refusal)
            return web.Response(status=204, headers=preflight_headers(request.headers))
        refusal = policy.refuse(request.headers)
        if refusal is not None:
            return _refused(refusal)
        allowed = cors_headers(request.headers["Origin"])
        try:
            response = await handler(request)
        except web.HTTPException as error:
            code = "not-found" if error.status == 404 else "method-not-allowed"
            detail = f"the card helper has no {request.method} {request.path}"
            response = problem_response(request_problem(error.status, code, detail))
        response.headers.update(allowed)
        return response

    app = web.Application(middlewares=[guard], client_max_size=config.max_body_bytes)
    app[_DESK] = desk
    app[_CONFIG] = config
    app[_CLOCK] = clock
    app.router.add_get(STATUS_PATH, _status, allow_head=False)
    app.router.add_post(AUTHENTICATIONS_PATH, _authenticate)
    return app


async def _status(request: web.Request) -> web.Response:
    try:
        status = await asyncio.to_thread(request.app[_DESK].status)
    except CardBridgeError as error:
        return problem_response(problem_for(error))
    return web.json_response(
        {
            "reader_present": status.reader_present,
            "card_present": status.card_present,
            "busy": status.busy,
        }
    )


async def _authenticate(request: web.Request) -> web.Response:
    config = request.app[_CONFIG]
    length = request.content_length
    if length is None:
        return problem_response(
            request_problem(411, "length-required", "send the body with a Content-Length")
        )
    if length > config.max_body_bytes:
        return problem_response(
            request_problem(
                413,
                "body-too-large",
                f"the body may be at most {config.max_body_bytes} bytes: a challenge and a PIN",
            )
        )
    if request.content_type != "application/json":
        return problem_response(
            request_problem(415, "unsupported-media-type", "send the body as application/json")
        )
    try:
        body = json.loads(await request.read())
    except (ValueError, web.HTTPRequestEntityTooLarge):
        body = None
    if not isinstance(body, dict) or set(body) != {"challenge", "pin"}:
        return problem_response(
            request_problem(
                400,
                "malformed-request",
                'the body must be a JSON object {"challenge": ..., "pin": ...} and nothing else',
            )
        )
    origin = request.headers["Origin"]
    try:
        challenge = check_registration_statement(
            body["challenge"], origin=origin, now=request.app[_CLOCK]()
        )
        answer = await asyncio.to_thread(
            request.app[_DESK].authenticate, challenge=challenge, pin=check_pin_shape(body["pin"])
        )
    except CardBridgeError as error:
        problem = problem_for(error)
        logger.info("authentication for %s refused: %s", origin, problem.code)
        return problem_response(problem)
    logger.info("authentication for %s answered", origin)
    return web.json_response(
        {
            "certificate": base64.b64encode(answer.certificate_der).decode("ascii"),
            "signature": base64.b64encode(answer.signature).decode("ascii"),
        }
    )


async def serve(
    config: HelperConfig,
    desk: CardDesk,
    *,
    announce: Callable[[str], None],
    stop: asyncio.Event,
) -> None:
    """Listen on 127.0.0.1 until `stop` is set; call `announce(url)` once listening.

    With `config.port` 0 the system picks a free port; `announce` gets the real one. Raises
    HelperConfigError for a non-loopback host, OSError when the port is taken.
    """
    check_loopback(config.host)
    runner = web.AppRunner(build_app(config, desk), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        announce(f"http://{host}:{port}")
        await stop.wait()
    finally:
        await runner.cleanup()
