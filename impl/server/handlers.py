"""The operations of the spec; the generated controllers call these by operationId."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time

import flask

from impl.errors import JSON_CONTENT_TYPE, InfluxError
from impl.metrics.exposition import expose
from impl.server.gotime import NANOS_PER_SECOND, go_duration, rfc3339_nano
from impl.server.state import AppState, HealthProbe, current_state
from sysinfo_server.encoder import JSONEncoder
from sysinfo_server.models.health_check import HealthCheck
from sysinfo_server.models.ready import Ready

log = logging.getLogger(__name__)

# A registry that takes longer than this to collect makes /health fail: a scrape
# would be as slow, and Prometheus' default scrape timeout is 10 s.
_COLLECT_DEADLINE_SECONDS = 2.0
_HEALTH_MESSAGE = "ready for queries and writes"


def _json_response(model: object, status: int = 200) -> flask.Response:
    body = json.dumps(model, cls=JSONEncoder, separators=(",", ":"))
    return flask.Response(body, status=status, content_type=JSON_CONTENT_TYPE)


def get_metrics(zap_trace_span: str | None = None, name: list[str] | None = None) -> flask.Response:
    state = current_state()
    if state.config.metrics_disabled:
        raise InfluxError("forbidden", "metrics disabled")
    accept = flask.request.headers.get("Accept")
    body, content_type = expose(state.registry, accept=accept, names=name)
    response = flask.Response(body, status=200, content_type=content_type)
    # The body is gzipped on the way out when the client allows it (impl/http/compression.py).
    response.headers["Vary"] = "Accept-Encoding"
    return response


def _check_registry(state: AppState) -> HealthCheck:
    # The deadline's verdict, unless the collection puts its own in front in time.
    outcome = [("fail", f"collection exceeded {_COLLECT_DEADLINE_SECONDS}s")]

    def collect() -> None:
        try:
            families = list(state.registry.collect())
            outcome.insert(0, ("pass", f"{len(families)} metric families collected"))
        except Exception as err:  # any collector failing is what this check reports
            log.exception("health check: registry collection failed")
            outcome.insert(0, ("fail", f"collection failed: {type(err).__name__}"))

    worker = threading.Thread(target=collect, daemon=True)
    worker.start()
    worker.join(_COLLECT_DEADLINE_SECONDS)
    status, message = outcome[0]
    return HealthCheck(name="metrics-registry", status=status, message=message)


def _check_state_dir(state: AppState) -> HealthCheck:
    directory = state.config.state_dir
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".health-"):
            pass
    except OSError as err:
        status, message = "fail", f"{directory} is not writable: {err.strerror}"
    else:
        status, message = "pass", f"{directory} is writable"
    return HealthCheck(name="state-directory", status=status, message=message)


def _check_probe(probe: HealthProbe) -> HealthCheck:
    name, passing, message = probe()
    return HealthCheck(name=name, status="pass" if passing else "fail", message=message)


def get_health(zap_trace_span: str | None = None) -> flask.Response:
    state = current_state()
    # The probes after the registry: collecting it is what finds damaged multiprocess files.
    checks = [_check_registry(state), _check_state_dir(state)]
    checks += [_check_probe(probe) for probe in state.health_probes]
    failing = [check.name for check in checks if check.status == "fail"]
    message = f"failing checks: {', '.join(failing)}" if failing else _HEALTH_MESSAGE
    health = HealthCheck(
        name="influxdb",
        message=message,
        status="fail" if failing else "pass",
        checks=checks,
        version=state.config.influxdb_version,
        commit=state.config.commit,
    )
    return _json_response(health, 503 if failing else 200)


def get_ready(zap_trace_span: str | None = None) -> flask.Response:
    state = current_state()
    if not state.ready:
        raise InfluxError("unavailable", "starting")
    up_nanos = round((time.monotonic() - state.started_monotonic) * NANOS_PER_SECOND)
    # A string, not a datetime: Python's datetime stops at microseconds, influxd writes
    # nanoseconds (the generated encoder passes strings through as they are).
    ready = Ready(status="ready", started=rfc3339_nano(state.started_ns), up=go_duration(up_nanos))
    return _json_response(ready)


def get_ping(zap_trace_span: str | None = None) -> flask.Response:
    response = flask.Response(status=204)
    del response.headers["Content-Type"]  # a 204 has no body, so no media type
    return response


# The spec's HEAD operations: the GET's answer (uvicorn sends it without a body).
head_metrics = get_metrics
head_health = get_health
head_ready = get_ready
head_ping = get_ping
