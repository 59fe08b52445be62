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
from impl.upstream.connexion import PARAMETER_LOGGER

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
_CACHED_VALUES = 1024
_CACHED_VALUE_LENGTH = 64


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
    """A record's fields, each masked then cut (`text`); the subclasses write the line."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor(())
        self._second = -1
        self._second_text = ""

    def text(self, value: object, limit: int = VALUE_LIMIT) -> str:
        return cut(self.redactor.text(str(value)), limit)

    def timestamp(self, record: logging.LogRecord) -> str:
        """ISO 8601 UTC with milliseconds, as influxd's logs write it; the part up to the
        second is formatted once a second (a busy service writes thousands of lines in it)."""
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(record.msecs):03d}Z"

    def fields(self, record: logging.LogRecord) -> dict[str, object]:
        """The record's fields; those that are not numbers (or None) are still to be
        masked and cut (`text`): each formatter does it as it writes them."""
        fields: dict[str, object] = {
            "ts": self.timestamp(record),
            "lvl": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return fields

    def limit(self, key: str) -> int:
        return TRACEBACK_LIMIT if key == "error" else VALUE_LIMIT


class LogfmtFormatter(_FieldsFormatter):
    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__(redactor)
        # Short values recur (methods, route templates, agent names, messages): each is
        # masked, cut and escaped once. Bounded, and emptied when full.
        self._escaped: dict[str, str] = {}

    def value(self, key: str, value: object) -> str:
        if isinstance(value, int | float):  # bool too: written as Python writes it
            return str(value)
        text = str(value)
        if key == "ts":
            return text  # made here, and new each millisecond: nothing to escape or keep
        if len(text) > _CACHED_VALUE_LENGTH:
            return logfmt_value(self.text(text, self.limit(key)))
        known = self._escaped.get(text)
        if known is None:
            known = logfmt_value(self.text(text))
            if len(self._escaped) >= _CACHED_VALUES:
                self._escaped.clear()
            self._escaped[text] = known
        return known

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(
            f"{key}={self.value(key, value)}" for key, value in self.fields(record).items()
        )


class JsonFormatter(_FieldsFormatter):
    """One JSON object per line, `ts` as in logfmt."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            key: value
            if isinstance(value, int | float) or value is None
            else self.text(value, self.limit(key))
            for key, value in self.fields(record).items()
        }
        # ensure_ascii (the default) escapes every non-ASCII character, U+2028 too.
        return json.dumps(fields)


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
    # The record's attributes nothing here writes: not looked up for every line.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
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
    logging.getLogger(PARAMETER_LOGGER).addFilter(demote_client_noise)
