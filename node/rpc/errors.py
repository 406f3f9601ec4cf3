"""JSON-RPC error objects, with the codes the JSON-RPC 2.0 spec and geth give them.

Every failure that reaches a client is one `RpcError`; the dispatcher turns it into the `error`
member of a response. Nothing else escapes a handler: an unexpected exception becomes -32603
with no stack trace sent.
"""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
"""geth's code for transaction-pool and state errors ("nonce too low", "header not found")."""
LIMIT_EXCEEDED = -32005
"""A request went over a configured limit (body size, batch size, log range)."""
EXECUTION_REVERTED = 3
"""geth's code for a reverted eth_call / eth_estimateGas; `data` carries the revert data."""


class RpcError(Exception):
    """An error to send to the client as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-RPC `error` member."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(index: int, name: str, why: str) -> RpcError:
    """Return -32602 naming the parameter (position and name) and what was wrong with it."""
    return RpcError(INVALID_PARAMS, f"invalid argument {index} ({name}): {why}")


def method_not_found(method: str) -> RpcError:
    """Return -32601 in geth's words."""
    return RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")


def limit_exceeded(message: str) -> RpcError:
    """Return -32005 for a request over a configured limit."""
    return RpcError(LIMIT_EXCEEDED, message)
