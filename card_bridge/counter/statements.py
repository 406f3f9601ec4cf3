"""The statement a card signs for a redemption or a voucher, and the counter's check of it.

The API writes the statement (docs/terminal-requests.md, "Statement"); the resident's card signs
SHA-256 of its bytes after the PIN. Before the card signs, the counter checks that the statement
says exactly what the counter asked for (action, amount, this terminal, this business), so a
compromised or confused API cannot get the card to approve a different amount.

Invariants: the statement is UTF-8 `key=value` lines after a fixed first line; an unknown first
line, a missing key or a different value is a `StatementMismatch` and nothing is signed.
"""

from __future__ import annotations

from card_bridge.counter.ports import PendingAction
from card_bridge.counter.refusals import StatementMismatch

STATEMENT_HEADER = "mykey-ledger/terminal-action/v1"


def parse_statement(statement: bytes) -> dict[str, str]:
    """Return the statement's fields; raise StatementMismatch when it is not the format."""
    try:
        lines = statement.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise StatementMismatch("the statement is not UTF-8 text") from None
    if lines[0] != STATEMENT_HEADER:
        raise StatementMismatch(f"the statement does not start with {STATEMENT_HEADER!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        key, separator, value = line.partition("=")
        if not separator or key in fields:
            raise StatementMismatch(f"the statement line {line!r} is not a single key=value")
        fields[key] = value
    return fields


def check_statement(action: PendingAction, *, terminal: str, business: str) -> None:
    """Raise StatementMismatch unless `action.statement` is what this counter asked for."""
    fields = parse_statement(action.statement)
    expected = {
        "action": action.kind.value,
        "amount": str(action.amount),
        "terminal": terminal.lower(),
        "business": business,
        "action_id": action.action_id,
    }
    for key, value in expected.items():
        found = fields.get(key)
        if key == "terminal" and found is not None:
            found = found.lower()
        if found != value:
            raise StatementMismatch(
                f"the statement's {key} is {fields.get(key)!r}, the counter asked for {value!r}"
            )
    if "challenge" not in fields:
        raise StatementMismatch("the statement carries no challenge: it could be replayed")


def build_statement(fields: dict[str, str]) -> bytes:
    """Return the statement bytes for `fields` (the API side's encoder; used by the fake API)."""
    lines = [STATEMENT_HEADER, *(f"{key}={value}" for key, value in fields.items())]
    return "\n".join(lines).encode("utf-8")
