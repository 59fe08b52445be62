"""The app factory: the generated server's spec, wired to impl's handlers and layers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import connexion
import flask
import yaml
from connexion.exceptions import ProblemException
from connexion.jsonifier import Jsonifier
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware import MiddlewarePosition
from starlette.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed

from impl.auth import TokenChecker
from impl.compression import GzipOperations
from impl.config import Config
from impl.docs import SPEC_JSON_PATH, SPEC_YAML_PATH, add_spec_routes, swagger_ui_options
from impl.errors import INTERNAL_MESSAGE, InfluxError, from_status, render
from impl.limits import Limits, RequestLimits
from impl.middleware import InfluxMiddleware, OperationGate
from impl.redact import RedactErrorBodies, Redactor
from impl.routing import HeadAsGet, middleware_stack
from impl.state import EXTENSION_KEY, AppState
from sysinfo_server.encoder import JSONEncoder

log = logging.getLogger("impl.app")

METRICS_OPERATION = "get_metrics"
SYSTEM_OPERATIONS = frozenset({"get_health", "get_ready", "get_ping", "head_ping"})


def generated_spec_path() -> Path:
    """The spec inside the generated server package (it names the controllers)."""
    return Path(str(resources.files("sysinfo_server") / "openapi" / "openapi.yaml"))


def operation_paths(spec: dict[str, Any]) -> dict[str, str]:
    """operationId -> route template, the `path` label of the HTTP metrics."""
    return {
        operation["operationId"]: path
        for path, item in spec["paths"].items()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def _connexion_response(error: InfluxError) -> ConnexionResponse:
    status, headers, body = render(error)
    return ConnexionResponse(
        status_code=status,
        mimetype="application/json",
        content_type=dict(headers)["Content-Type"],
        body=body,
        headers={k: v for k, v in headers if k not in ("Content-Type", "Content-Length")},
    )


def _on_influx_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, InfluxError)
    log.warning("request failed: %s", exc)
    return _connexion_response(exc)


def _on_problem(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, ProblemException)
    error = from_status(exc.status, str(exc.detail or exc.title))
    # For a 500 the client gets a generic message; the log keeps what Connexion said.
    log.log(
        logging.ERROR if exc.status >= 500 else logging.WARNING,
        "request failed: %s (%s: %s)",
        error,
        exc.title,
        exc.detail,
    )
    return _connexion_response(error)


def _on_http_exception(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = InfluxError("not found", "path not found")
    elif exc.status_code == 405:
        allowed = tuple(
            m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()
        )
        error = InfluxError("method not allowed", f"allow: {', '.join(allowed)}", allow=allowed)
    else:
        error = from_status(exc.status_code, str(exc.detail))
    level = logging.ERROR if error.status >= 500 else logging.WARNING
    log.log(level, "request failed: %s %s: %s", request.method, request.url.path, error)
    return _connexion_response(error)


def _on_unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.error("unexpected error", exc_info=exc)
    return _connexion_response(InfluxError("internal error", INTERNAL_MESSAGE))


def _flask_influx_error(error: InfluxError) -> flask.Response:
    """InfluxErrors raised by handlers, answered before Flask turns them into a 500."""
    log.warning("request failed: %s", error)
    status, headers, body = render(error)
    return flask.Response(body, status=status, headers=headers)


def _flask_method_not_allowed(error: MethodNotAllowed) -> flask.Response:
    """Flask routes outside the spec: Werkzeug knows the allowed methods, and Connexion's
    generic re-raise would drop them."""
    allowed = tuple(sorted(error.valid_methods or ()))
    message = f"allow: {', '.join(allowed)}"
    return _flask_influx_error(InfluxError("method not allowed", message, allow=allowed))


def create_app(config: Config, state: AppState | None = None) -> connexion.FlaskApp:
    """A ready-to-serve app for `config`, with its own registry and state."""
    state = state or AppState.create(config)
    spec_path = generated_spec_path()
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        state.ready = True  # /ready answers 503 until the server has started
        try:
            yield
        finally:
            state.ready = False

    app = connexion.FlaskApp(__name__, lifespan=lifespan, middlewares=middleware_stack())
    app.add_api(
        spec,
        pythonic_params=True,
        validate_responses=True,
        jsonifier=Jsonifier(cls=JSONEncoder),
        swagger_ui_options=swagger_ui_options(spec),
    )
    add_spec_routes(app, spec)
    app.app.extensions[EXTENSION_KEY] = state
    app.app.register_error_handler(InfluxError, _flask_influx_error)
    app.app.register_error_handler(MethodNotAllowed, _flask_method_not_allowed)

    protected = {METRICS_OPERATION} | (
        SYSTEM_OPERATIONS if config.protect_system_endpoints else set()
    )
    app.add_middleware(
        OperationGate,
        position=MiddlewarePosition.BEFORE_SECURITY,
        tokens=TokenChecker(config.tokens),
        protected=frozenset(protected),
        plain_routes=frozenset({SPEC_JSON_PATH, SPEC_YAML_PATH}),
    )
    app.add_middleware(
        GzipOperations,
        position=MiddlewarePosition.BEFORE_SECURITY,
        operations={METRICS_OPERATION},
    )
    app.add_middleware(
        HeadAsGet,
        position=MiddlewarePosition.BEFORE_SECURITY,
        get_operations=frozenset(
            item["get"]["operationId"] for item in spec["paths"].values() if "get" in item
        ),
    )
    app.add_middleware(
        InfluxMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        metrics=state.http_metrics,
        paths=operation_paths(spec),
        version=config.version,
        build=config.build,
    )
    # Inside InfluxMiddleware (added after it at the same position): refusals and
    # masked errors are counted and carry the identity headers.
    app.add_middleware(
        RequestLimits,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        limits=Limits(
            max_header_size=config.max_header_size,
            max_connections=config.max_connections,
            body_timeout=config.header_timeout,
        ),
    )
    if config.tokens:
        app.add_middleware(
            RedactErrorBodies,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            redactor=Redactor(config.tokens),
        )
    app.add_error_handler(InfluxError, _on_influx_error)
    app.add_error_handler(ProblemException, _on_problem)
    app.add_error_handler(HTTPException, _on_http_exception)
    app.add_error_handler(Exception, _on_unexpected)
    return app
