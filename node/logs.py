"""Structured logs for the node: one line per event, `key=value` (logfmt) or JSON.

Call sites log an event name as the message and put the facts in `extra=fields(...)`, so a
line reads `ts=2026-11-28T06:00:00.123Z level=info logger=node.service msg="block produced"
number=12 txs=800`. Values are quoted only when they need it. The level comes from config.toml's
`[log] level` (or the command line) and applies to the whole `node` logger tree.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

FIELDS_KEY = "fields"


def fields(**values: Any) -> dict[str, Any]:
    """Return `extra=` for a log call carrying structured fields."""
    return {FIELDS_KEY: values}


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text == "" or any(char in text for char in ' ="\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    """Render a record as logfmt: ts, level, logger, msg, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        parts = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        parts.update(getattr(record, FIELDS_KEY, {}))
        line = " ".join(f"{key}={_logfmt_value(value)}" for key, value in parts.items())
        if record.exc_info:
            line += " error=" + _logfmt_value(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        body.update(getattr(record, FIELDS_KEY, {}))
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)


def configure_logging(
    level: str, *, json_lines: bool = False, stream: TextIO | None = None
) -> None:
    """Send the `node` logger tree to `stream` (stderr) at `level` ("INFO", "debug", ...).

    Raises ValueError for an unknown level name.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
    for name in ("node", "aiohttp"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(numeric if name == "node" else max(numeric, logging.WARNING))
        logger.propagate = False
