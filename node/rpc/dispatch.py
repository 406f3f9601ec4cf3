"""The JSON-RPC 2.0 envelope: bytes in, bytes out, for single and batch requests.

Rules kept (JSON-RPC 2.0 spec, geth's behaviour where the spec is silent): unparseable JSON gets
-32700 with id null; a request that is not an object with "jsonrpc": "2.0" and a string method
gets -32600; an empty batch is one -32600 error, not an empty array; a batch over the limit is
one -32005 error; notifications (no "id") get no response, and a batch of only notifications
gets nothing at all; params must be an array (or absent). A handler failure never escapes:
`LedgerError`s map to geth's errors, anything unexpected to -32603 with details only in the log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from node.ports import LedgerError
from node.rpc.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    RpcError,
    limit_exceeded,
    method_not_found,
)
from node.rpc.methods import EthApi, Session, ledger_error_to_rpc

log = logging.getLogger(__name__)

RequestObserver = Callable[[str, int | None, float], None]
"""Called per request with (method, error code or None, seconds taken): the metrics hook."""


def encode(message: Any) -> bytes:
    """Serialise a response compactly (no spaces), as geth does."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    """Return a JSON-RPC error response."""
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects accepted. JSON-RPC needs under 10 (batch, request, params,
call object, access list); the cap matters because py-evm raises Python's recursion limit to
100,000, and json's C parser would then overflow the C stack on a body like "[[[[…" instead of
raising RecursionError: one small request could crash the node."""

MAX_JSON_BRACKETS = 500_000
"""Most array/object brackets looked at; a body with more is refused before parsing."""

JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
NOT_BRACKET = bytes(set(range(256)) - set(b"[]{}"))


def nesting_error(body: bytes) -> RpcError | None:
    """Return a -32700 error when `body` nests deeper than MAX_JSON_DEPTH, else None.

    Strings are removed first (brackets inside them do not nest); the scan stops at the first
    level past the limit, so a hostile body costs little.
    """
    # Without backslashes no quote is escaped, so splitting on quotes separates strings from
    # structure at C speed; otherwise a regex removes the strings.
    outside = b"".join(body.split(b'"')[0::2]) if b"\\" not in body else JSON_STRING.sub(b"", body)
    brackets = outside.translate(None, NOT_BRACKET)
    if len(brackets) > MAX_JSON_BRACKETS:
        return RpcError(PARSE_ERROR, f"parse error: more than {MAX_JSON_BRACKETS} brackets")
    depth = 0
    for bracket in brackets:
        if bracket in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return RpcError(
                    PARSE_ERROR, f"parse error: JSON nested deeper than {MAX_JSON_DEPTH} levels"
                )
        else:
            depth -= 1
    return None


def invalid_envelope(request: Any) -> RpcError | None:
    """Return the -32600 error for a request object that breaks JSON-RPC 2.0, or None."""
    if not isinstance(request, dict):
        return RpcError(INVALID_REQUEST, "invalid request: not an object")
    request_id = request.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int | float | None):
        return RpcError(INVALID_REQUEST, "invalid request: id must be a string or number")
    if request.get("jsonrpc") != "2.0":
        return RpcError(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"')
    if not isinstance(request.get("method"), str):
        return RpcError(INVALID_REQUEST, "invalid request: method must be a string")
    return None


class Dispatcher:
    """Apply the envelope rules around an `EthApi` method table."""

    def __init__(
        self,
        api: EthApi,
        observe: RequestObserver | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.api = api
        self.observe = observe
        self.clock = clock

    def handle_bytes(self, body: bytes | str, session: Session | None = None) -> bytes | None:
        """Answer one HTTP body or WebSocket message; None when nothing is to be sent."""
        raw = body.encode() if isinstance(body, str) else body
        depth_error = nesting_error(raw)
        if depth_error is not None:
            return encode(error_response(None, depth_error))
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            return encode(error_response(None, RpcError(PARSE_ERROR, f"parse error: {error}")))
        except RecursionError:
            too_deep = RpcError(PARSE_ERROR, "parse error: JSON nested too deeply")
            return encode(error_response(None, too_deep))
        response = self.handle_message(message, session)
        return None if response is None else encode(response)

    def handle_message(self, message: Any, session: Session | None = None) -> Any:
        """Answer a decoded message (one request or a batch); None when nothing is sent."""
        if isinstance(message, list):
            if not message:
                return error_response(None, RpcError(INVALID_REQUEST, "empty batch"))
            limit = self.api.limits.max_batch
            if len(message) > limit:
                return error_response(
                    None,
                    limit_exceeded(
                        f"batch of {len(message)} requests is over the limit of {limit}; "
                        "split it into smaller batches"
                    ),
                )
            answers = [self.handle_request(item, session) for item in message]
            replies = [answer for answer in answers if answer is not None]
            return replies or None
        return self.handle_request(message, session)

    def handle_request(self, request: Any, session: Session | None) -> dict[str, Any] | None:
        """Answer one request object; None for a valid notification."""
        envelope_error = invalid_envelope(request)
        if envelope_error is not None:
            request_id = request.get("id") if isinstance(request, dict) else None
            if isinstance(request_id, dict | list | bool):
                request_id = None
            return error_response(request_id, envelope_error)
        request_id = request.get("id")
        is_notification = "id" not in request
        method: str = request["method"]
        started = self.clock() if self.clock is not None else 0.0
        label = method if method in self.api.methods else "other"
        try:
            result = self.call(method, request.get("params"), session)
        except RpcError as error:
            self._observe(label, error.code, started)
            return None if is_notification else error_response(request_id, error)
        self._observe(label, None, started)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def call(self, method: str, params: Any, session: Session | None) -> Any:
        """Run one method; every failure comes out as an RpcError."""
        if params is None:
            params = []
        if not isinstance(params, list):
            raise RpcError(INVALID_PARAMS, "non-array args: params must be an array")
        handler = self.api.methods.get(method)
        if handler is None:
            raise method_not_found(method)
        try:
            return handler(params, session)
        except RpcError:
            raise
        except LedgerError as error:
            raise ledger_error_to_rpc(error) from error
        except Exception as error:
            log.exception("rpc handler failed method=%s", method)
            raise RpcError(
                INTERNAL_ERROR, "internal error; the node log has the details"
            ) from error

    def _observe(self, method: str, code: int | None, started: float) -> None:
        if self.observe is not None:
            elapsed = self.clock() - started if self.clock is not None else 0.0
            self.observe(method, code, elapsed)
