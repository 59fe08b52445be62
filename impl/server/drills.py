"""Failure drills: the operator's file that asks the service to fail on purpose.

With `--drill-file PATH`, whoever may write PATH starts a drill by writing a JSON object
there and ends it by removing the file (or writing `{}`); no request can do either. The
file is looked at again at most every RECHECK_SECONDS, read only when its inode, size or
modification time changed, in every process that serves (each worker reads it), and
each start, change and end of a drill is logged as a warning. A file that cannot be used
(not JSON, an unknown key, a value out of bounds, not a regular file) is no drill, and
an error line says why, once per version of the file.

    {"health": {"check": "storage", "message": "disk full"},   # /health 503, that check failing
     "ready": true,                                            # /ready 503 `unavailable`
     "metrics": "unavailable" | {"delay_seconds": 5}}          # /metrics 503, or late

What each drill does to an answer: impl/http/drills.py and the handlers. The gauge
`influxdb_sysinfo_drill_active{endpoint}` says which endpoints fail on purpose.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from impl.http.drills import ENDPOINTS, NO_DRILL, Drill
from impl.metrics.multiprocess.directory import open_for_reading

log = logging.getLogger(__name__)

RECHECK_SECONDS = 0.25
MAX_DELAY_SECONDS = 600.0
MAX_FILE_BYTES = 64 * 1024
MAX_TEXT = 256  # a check's name and message: they reach /health's body
DEFAULT_CHECK = "drill"
DEFAULT_MESSAGE = "failure drill"
GAUGE = "influxdb_sysinfo_drill_active"


class DrillError(ValueError):
    """The drill file cannot be used; the message says why."""


def _text(value: Any, what: str, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise DrillError(f"{what} must be text of 1 to {MAX_TEXT} characters")
    return value


def _health(value: Any) -> tuple[str | None, str]:
    if value is False:
        return None, ""
    if value is True:
        return DEFAULT_CHECK, DEFAULT_MESSAGE
    if not isinstance(value, dict) or set(value) - {"check", "message"}:
        raise DrillError('"health" must be true, false or {"check": ..., "message": ...}')
    return _text(value.get("check"), "health.check", DEFAULT_CHECK), _text(
        value.get("message"), "health.message", DEFAULT_MESSAGE
    )


def _metrics(value: Any) -> tuple[bool, float]:
    if value is False:
        return False, 0.0
    if value == "unavailable":
        return True, 0.0
    only_delay = isinstance(value, dict) and set(value) == {"delay_seconds"}
    delay = value["delay_seconds"] if only_delay else None
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        raise DrillError('"metrics" must be false, "unavailable" or {"delay_seconds": N}')
    if not 0 < delay <= MAX_DELAY_SECONDS:
        raise DrillError(f"metrics.delay_seconds must be above 0 and at most {MAX_DELAY_SECONDS:g}")
    return False, float(delay)


def parse_drill(text: str) -> Drill:
    """The drill a file's text asks for; DrillError when it cannot be used."""
    try:
        document = json.loads(text) if text.strip() else {}
    except ValueError as err:
        raise DrillError(f"not JSON: {err}") from None
    if not isinstance(document, dict):
        raise DrillError("not a JSON object")
    unknown = sorted(set(document) - set(ENDPOINTS))
    if unknown:
        raise DrillError(f"unknown key {unknown[0]!r} (known: {', '.join(ENDPOINTS)})")
    ready = document.get("ready", False)
    if not isinstance(ready, bool):
        raise DrillError('"ready" must be true or false')
    check, message = _health(document.get("health", False))
    unavailable, delay = _metrics(document.get("metrics", False))
    return Drill(check, message, ready, unavailable, delay)


def _read(path: Path) -> str:
    """The file's text, of a bounded size; opened as the multiprocess files are: without
    waiting (a FIFO would wait for a writer) and only if it is a regular file."""
    fd = open_for_reading(str(path))
    try:
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise DrillError(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DrillError("not UTF-8") from None


def _describe(drill: Drill) -> dict[str, object]:
    fields: dict[str, object] = {"endpoints": ",".join(drill.endpoints)}
    if drill.health_check is not None:
        fields["health_check"] = drill.health_check
    if drill.metrics_unavailable:
        fields["metrics"] = "unavailable"
    elif drill.metrics_delay:
        fields["metrics_delay_seconds"] = drill.metrics_delay
    return fields


class DrillFile:
    """The drill the operator's file asks for now (NO_DRILL without a file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._drill = NO_DRILL
        self._stamp: tuple[int, int, int] | None = None
        self._looked = -RECHECK_SECONDS
        self._lock = threading.Lock()  # /health's answer is made in a thread

    def current(self) -> Drill:
        if self.path is None:
            return NO_DRILL
        now = time.monotonic()
        if now - self._looked < RECHECK_SECONDS:
            return self._drill
        with self._lock:
            self._looked = now
            self._look(self.path)
            return self._drill

    def _look(self, path: Path) -> None:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            stamp = None
        except OSError as err:
            stamp = (-1, err.errno or 0, 0)
        else:
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        drill = NO_DRILL
        if stamp is not None:
            try:
                drill = parse_drill(_read(path))
            except (DrillError, OSError) as err:
                reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
                fields = {"file": str(path), "cause": reason}
                log.error("drill file not used", extra={"fields": fields})
        if drill != self._drill:
            self._said(self._drill, drill)
            self._drill = drill

    def _said(self, before: Drill, after: Drill) -> None:
        if not after.endpoints:
            log.warning("drill ended", extra={"fields": {"file": str(self.path)}})
        else:
            what = "drill started" if not before.endpoints else "drill changed"
            log.warning(what, extra={"fields": {"file": str(self.path), **_describe(after)}})


class DrillCollector(Collector):
    """1 for each endpoint a drill makes fail (or slow) on purpose, 0 for the others."""

    def __init__(self, drills: DrillFile) -> None:
        self._drills = drills

    def collect(self) -> Iterator[GaugeMetricFamily]:
        active = set(self._drills.current().endpoints)
        family = GaugeMetricFamily(
            GAUGE,
            "Whether a failure drill (--drill-file) makes this endpoint fail or slow on "
            "purpose: 1 during a drill, not an outage",
            labels=["endpoint"],
        )
        for endpoint in ENDPOINTS:
            family.add_metric([endpoint], 1.0 if endpoint in active else 0.0)
        yield family
