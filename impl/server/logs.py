"""Logging set-up: one line per event, logfmt or JSON, that a reader can trust.

Log values carry text clients chose (paths, methods, header values quoted in errors).
Each is masked (the configured tokens become `[redacted]`), then cut to `VALUE_LIMIT`
characters (`TRACEBACK_LIMIT` for a traceback) with a marker saying how much went: the
mask comes first, as the cut could leave half a token standing. In logfmt the quote, the
backslash and every character of `UNSAFE_CATEGORIES` are escaped, so nothing a client
sends can end a line, start a forged record, colour a terminal or reorder what a reader
sees; JSON lines escape every non-ASCII character.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import unicodedata
from collections.abc import Iterable

from impl.http.redact import Redactor

VALUE_LIMIT = 1024
TRACEBACK_LIMIT = 16 * 1024
# Controls (C0 with CR, LF, NUL and ESC; DEL; C1 with NEL), format characters (bidi
# controls, zero-width ones, the BOM), surrogates, private use, unassigned, and line,
# paragraph and space separators (ASCII space is the one exception).
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# ASCII that can stand unquoted in a logfmt value.
_PLAIN_ASCII = re.compile(r"[!#-<>-\[\]-~]+")
_ASCII_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\]')


def cut(text: str, limit: int = VALUE_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} chars cut]"


def _escape_char(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if char == " " or unicodedata.category(char) not in UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def logfmt_value(text: str) -> str:
    if _PLAIN_ASCII.fullmatch(text):
        return text
    if text.isascii():  # the usual case, without a look-up per character
        return '"' + _ASCII_UNSAFE.sub(lambda m: _escape_char(m.group()), text) + '"'
    return '"' + "".join(_escape_char(char) for char in text) + '"'


class _FieldsFormatter(logging.Formatter):
    """A record's fields, each masked then cut; the subclasses write the line."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor(())

    def text(self, value: object, limit: int = VALUE_LIMIT) -> str:
        return cut(self.redactor.text(str(value)), limit)

    def fields(self, record: logging.LogRecord, timestamp: object) -> dict[str, object]:
        fields: dict[str, object] = {
            "ts": timestamp,
            "lvl": record.levelname.lower(),
            "logger": record.name,
            "msg": self.text(record.getMessage()),
        }
        for key, value in getattr(record, "fields", {}).items():
            plain = isinstance(value, bool | int | float) or value is None
            fields[key] = value if plain else self.text(value)
        if record.exc_info:
            fields["error"] = self.text(self.formatException(record.exc_info), TRACEBACK_LIMIT)
        return fields


class LogfmtFormatter(_FieldsFormatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        fields = self.fields(record, f"{stamp}.{int(record.msecs):03d}Z")
        return " ".join(f"{k}={logfmt_value(str(v))}" for k, v in fields.items())


class JsonFormatter(_FieldsFormatter):
    """One JSON object per line, `ts` in Unix seconds."""

    def format(self, record: logging.LogRecord) -> str:
        # ensure_ascii (the default) escapes every non-ASCII character, U+2028 too.
        return json.dumps(self.fields(record, record.created))


def demote_client_noise(record: logging.LogRecord) -> bool:
    """Demotes to debug the error Connexion logs, then serves the request, for a query
    parameter named like a handler argument but not in the spec (`?name=x` beside
    `name[]`): error lines must mean a problem of the service, not one a client chose."""
    if record.levelno >= logging.ERROR:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)
    return True


def configure(level: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr; `secrets` (the configured tokens) are masked in every line."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter if fmt == "json" else LogfmtFormatter
    handler.setFormatter(formatter(Redactor(secrets)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours, without route templates.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("connexion.decorators.parameter").addFilter(demote_client_noise)
