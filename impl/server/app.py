"""The app factory: the reviewed spec, served by impl's handlers (through the generated
controllers) and one list of layers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import connexion
from connexion.jsonifier import Jsonifier
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.types import ASGIApp

from impl.http.compression import GzipOperations
from impl.http.exceptions import ErrorResponses
from impl.http.limits import RequestLimits
from impl.http.observe import Observe
from impl.http.page_headers import PageHeaders
from impl.http.redact import RedactErrorBodies, Redactor
from impl.http.routes import Routes, RouteTable
from impl.http.scrapes import ScrapeSlots
from impl.http.tokens import TokenChecker, TokenGate
from impl.server import docs, serving
from impl.server.config import Config
from impl.server.controllers import GeneratedControllers, controller_functions, generated_spec
from impl.server.serving import identity_headers
from impl.server.state import EXTENSION_KEY, AppState
from impl.spec import served_spec, served_spec_text
from sysinfo_server.encoder import JSONEncoder

Layer = Callable[[ASGIApp], ASGIApp]

METRICS_OPERATION = "get_metrics"
SYSTEM_OPERATIONS = frozenset({"get_health", "get_ready", "get_ping", "head_ping"})


def layers(config: Config, state: AppState, routes: RouteTable) -> list[Layer]:
    """Every layer a request passes, in order; Flask and the handlers come last. Connexion's
    two exception layers (they answer with problem+json) are replaced by ErrorResponses,
    and its security layer is left out (impl/http/tokens.py says why)."""
    tokens = config.tokens
    system = SYSTEM_OPERATIONS if config.protect_system_endpoints else frozenset()
    protected = system | {METRICS_OPERATION}
    limits = serving.limits(config)
    identity = identity_headers(config)
    return [
        # Identity headers, HTTP metrics and an access-log line for every answer below.
        partial(Observe, metrics=state.http_metrics, routes=routes, identity_headers=identity),
        # Token-protected mode: configured tokens masked in every error body below.
        *([partial(RedactErrorBodies, redactor=Redactor(tokens))] if tokens else []),
        # An exception from any layer below is answered as an InfluxDB error, logged;
        # what its message quotes of the request is masked, then cut.
        partial(ErrorResponses, redactor=Redactor(tokens)),
        # Too many connections, a head or body too large or too slow: refused unread.
        partial(RequestLimits, limits=limits),
        # /ui/: what a browser may do with the docs page (CSP, no framing, nosniff).
        partial(PageHeaders, prefix=docs.DOCS_PATH),
        # /ui/: Swagger UI, outside the spec and its routes.
        SwaggerUIMiddleware,
        # Unknown path: 404; method not served: 405 with Allow; HEAD runs the GET.
        partial(Routes, table=routes),
        # Connexion names the operation (scope["extensions"]) for the layers below.
        RoutingMiddleware,
        # Token-protected mode: the operations it protects need a valid token.
        *([partial(TokenGate, tokens=TokenChecker(tokens), protected=protected)] if tokens else []),
        # Parameters against the spec: 400 before a handler runs.
        RequestValidationMiddleware,
        # A few /metrics responses in the making at once, a bounded queue, then 503.
        partial(
            ScrapeSlots,
            operations={METRICS_OPERATION},
            concurrent=config.max_concurrent_scrapes,
            queued=config.max_queued_scrapes,
        ),
        # gzip for /metrics, outside response validation, which reads bodies as text.
        partial(GzipOperations, operations={METRICS_OPERATION}),
        # Responses against the spec: a handler's mistake is a 500, not a broken contract.
        ResponseValidationMiddleware,
        # Start-up and shut-down events (/ready answers 503 until start-up is done).
        LifespanMiddleware,
        # The request context the generated controllers and Flask read.
        ContextMiddleware,
    ]


def create_app(config: Config, state: AppState | None = None) -> connexion.FlaskApp:
    """A ready-to-serve app for `config`, with its own registry and state."""
    state = state or AppState.create(config)
    spec = served_spec()
    routes = RouteTable.from_spec(spec, extra_get_paths=(docs.SPEC_JSON_PATH, docs.SPEC_YAML_PATH))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        state.ready = True
        try:
            yield
        finally:
            state.ready = False

    app = connexion.FlaskApp(__name__, lifespan=lifespan, middlewares=layers(config, state, routes))
    app.add_api(
        spec,
        resolver=GeneratedControllers(controller_functions(generated_spec())),
        pythonic_params=True,
        validate_responses=True,
        jsonifier=Jsonifier(cls=JSONEncoder),
        swagger_ui_options=docs.swagger_ui_options(spec),
    )
    docs.add_spec_routes(app, served_spec(), served_spec_text())
    app.app.extensions[EXTENSION_KEY] = state
    return app
