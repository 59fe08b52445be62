"""Logging set-up: one line per event, logfmt or JSON."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable

from impl.http.redact import Redactor


def _logfmt_value(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' ="\\\n'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "lvl": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update(getattr(record, "fields", {}))
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "ts": record.created,
            "lvl": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update(getattr(record, "fields", {}))
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return json.dumps(fields, default=str)


class RedactingFormatter(logging.Formatter):
    """Formats with `inner`, then masks the secrets in the finished line."""

    def __init__(self, inner: logging.Formatter, redactor: Redactor) -> None:
        super().__init__()
        self.inner = inner
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.text(self.inner.format(record))


class ClientNoise(logging.Filter):
    """Demotes to debug the errors Connexion logs about what a client sent.

    Connexion logs an *error* for a query parameter named like a handler argument but
    not declared in the spec (`?name=x` beside the declared `name[]`), then ignores
    it and serves the request. Error lines must mean the service has a problem; a
    client must not be able to write them at will.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


CLIENT_NOISE = ClientNoise()


def configure(level: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr; `secrets` (the configured tokens) are masked in every line."""
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else LogfmtFormatter()
    redactor = Redactor(secrets)
    handler.setFormatter(RedactingFormatter(formatter, redactor) if redactor else formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours, without route templates.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("connexion.decorators.parameter").addFilter(CLIENT_NOISE)
