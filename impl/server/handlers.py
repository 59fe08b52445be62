"""The operations of the spec. Each answer is made once, free of any framework
(impl/http/answers.py), and served two ways: as the Flask view the generated controllers
call by operationId (the full path), and directly to ASGI (the fast path)."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from typing import Any

import flask
from werkzeug.datastructures import Headers

from impl.errors import JSON_CONTENT_TYPE, InfluxError
from impl.http.answers import Answer, Asked
from impl.http.drills import DrillFailure
from impl.metrics.exposition import expose
from impl.server.gotime import NANOS_PER_SECOND, go_duration, rfc3339_nano
from impl.server.state import AppState, HealthProbe, current_state
from sysinfo_server.encoder import JSONEncoder
from sysinfo_server.models.health_check import HealthCheck
from sysinfo_server.models.ready import Ready

log = logging.getLogger(__name__)

# A registry that takes longer than this to collect makes /health fail: a scrape
# would be as slow, and Prometheus' default scrape timeout is 10 s.
COLLECT_DEADLINE_SECONDS = 2.0
_HEALTH_MESSAGE = "ready for queries and writes"

StateAnswer = Callable[[AppState, Asked], Answer]


def _with_body(status: int, content_type: str, body: bytes, *extra: tuple[bytes, bytes]) -> Answer:
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    return Answer(status, [*headers, *extra], body)


def _json_answer(model: object, status: int = 200) -> Answer:
    body = json.dumps(model, cls=JSONEncoder, separators=(",", ":")).encode()
    return _with_body(status, JSON_CONTENT_TYPE, body)


def metrics(state: AppState, asked: Asked) -> Answer:
    if state.config.metrics_disabled:
        raise InfluxError("forbidden", "metrics disabled")
    body, content_type = expose(state.registry, accept=asked.accept, names=asked.names)
    # The body is gzipped on the way out when the client allows it (impl/http/compression.py).
    return _with_body(200, content_type, body, (b"vary", b"Accept-Encoding"))


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


def health(state: AppState, asked: Asked) -> Answer:
    status, message = state.registry_collection.check(state.registry, COLLECT_DEADLINE_SECONDS)
    checks = [
        HealthCheck(name="metrics-registry", status=status, message=message),
        _check_state_dir(state),
    ]
    # The probes after the registry: collecting it is what finds damaged multiprocess files.
    checks += [_check_probe(probe) for probe in state.health_probes]
    drill = state.drills.current()
    if drill.health_check is not None:  # on purpose: the operator's drill (impl/server/drills.py)
        name, message = drill.health_check, drill.health_message
        checks.append(HealthCheck(name=name, status="fail", message=message))
    failing = [check.name for check in checks if check.status == "fail"]
    message = f"failing checks: {', '.join(failing)}" if failing else _HEALTH_MESSAGE
    report = HealthCheck(
        name="influxdb",
        message=message,
        status="fail" if failing else "pass",
        checks=checks,
        version=state.config.influxdb_version,
        commit=state.config.commit,
    )
    return _json_answer(report, 503 if failing else 200)


def ready(state: AppState, asked: Asked) -> Answer:
    if not state.ready:
        raise InfluxError("unavailable", "starting")
    if state.drills.current().ready_fails:  # on purpose: the operator's drill
        raise DrillFailure("unavailable", "failure drill: not ready")
    up_nanos = round((time.monotonic() - state.started_monotonic) * NANOS_PER_SECOND)
    # A string, not a datetime: Python's datetime stops at microseconds, influxd writes
    # nanoseconds (the generated encoder passes strings through as they are).
    report = Ready(status="ready", started=rfc3339_nano(state.started_ns), up=go_duration(up_nanos))
    return _json_answer(report)


def ping(state: AppState, asked: Asked) -> Answer:
    return Answer(204, [])  # a 204 has no body, so no media type


class Handler:
    """The Flask view of an answer, which a generated controller calls with the request's
    parameters; `blocking`: the answer may block (it waits, or does file I/O), so it is
    never made on the event loop."""

    def __init__(self, answer: StateAnswer, *, blocking: bool = False) -> None:
        self.answer = answer
        self.blocking = blocking

    def __call__(self, **parameters: Any) -> flask.Response:
        # Headers repeated in a request reach WSGI joined with commas, as RFC 9110 5.3 reads them.
        asked = Asked(accept=flask.request.headers.get("Accept"), names=parameters.get("name"))
        answer = self.answer(current_state(), asked)
        response = flask.Response(answer.body, status=answer.status)
        response.headers = Headers(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.headers]
        )
        return response


get_metrics = Handler(metrics)
get_health = Handler(health, blocking=True)
get_ready = Handler(ready)
get_ping = Handler(ping)
# The spec's HEAD operations: the GET's answer (uvicorn sends it without a body).
head_metrics = get_metrics
head_health = get_health
head_ready = get_ready
head_ping = get_ping


def handler_for(controller_function: str) -> Handler | None:
    """The handler a generated controller function (its dotted name) calls, if it is one
    here: the controllers call the handler of their own name (the controller template)."""
    found = globals().get(controller_function.rsplit(".", 1)[-1])
    return found if isinstance(found, Handler) else None
