"""The counter words every refusal it knows, and each of those is a problem the API really sends.

The counter maps problem `type` codes to plain words (card_bridge/counter/refusals.py); a code the
API never sends would be dead words, and a renamed API problem would fall back to the generic
"refused". This walks every ApiError subclass the assembled app can raise.
"""

from __future__ import annotations

import api.app  # noqa: F401  (imports every router, hence every problem class)
from api.errors import ApiError
from card_bridge.counter.refusals import REFUSALS


def _all_slugs() -> set[str]:
    found: set[str] = set()
    pending: list[type[ApiError]] = [ApiError]
    while pending:
        cls = pending.pop()
        found.add(cls.slug)
        pending.extend(cls.__subclasses__())
    return found


def test_every_counter_refusal_code_is_an_api_problem() -> None:
    slugs = _all_slugs()
    missing = sorted(code for code in REFUSALS if code not in slugs)
    assert missing == []


def test_the_terminal_signed_path_refusals_have_counter_words() -> None:
    for code in (
        "terminal-key-not-held",
        "transaction-mismatch",
        "action-expired",
        "already-relayed",
        "signed-by-another-account",
    ):
        assert code in REFUSALS, code
        assert REFUSALS[code]().message().japanese
