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
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.types import ASGIApp

from impl.http.answers import AnswerFunction, Answers, Offload
from impl.http.compression import GzipOperations
from impl.http.drills import Drills
from impl.http.exceptions import ErrorResponses
from impl.http.fastpath import FastPath, fast_operations
from impl.http.limits import RequestLimits
from impl.http.observe import Observe
from impl.http.page_headers import PageHeaders
from impl.http.redact import RedactErrorBodies, Redactor
from impl.http.routes import Routes, RouteTable
from impl.http.scrapes import ScrapeQueue, ScrapeSlots
from impl.http.tokens import TokenChecker, TokenGate
from impl.http.wsgi import InlineWSGI
from impl.server import docs, handlers, serving
from impl.server.config import Config
from impl.server.controllers import GeneratedControllers, controller_functions, generated_spec
from impl.server.serving import identity_headers
from impl.server.state import EXTENSION_KEY, AppState
from impl.spec import served_spec, served_spec_text
from impl.upstream.connexion import RequestValidation, serve_flask_with
from sysinfo_server.encoder import JSONEncoder

Layer = Callable[[ASGIApp], ASGIApp]


def operation_handlers(routes: RouteTable) -> dict[str, handlers.Handler]:
    """operation id -> the handler its generated controller calls, for the operations
    whose controller calls one here (found by method and path, as the routing finds them)."""
    controllers = controller_functions(generated_spec())
    found = {}
    for operation in routes.operations:
        controller = controllers.get((operation.path, operation.method.lower()))
        handler = handlers.handler_for(controller) if controller else None
        if handler is not None:
            found[operation.operation_id] = handler
    return found


def answers_of(state: AppState, found: dict[str, handlers.Handler]) -> dict[str, AnswerFunction]:
    """operation id -> its handler's answer."""
    return {operation_id: partial(handler.answer, state) for operation_id, handler in found.items()}


def offload_of(found: dict[str, handlers.Handler]) -> Offload:
    """Where each operation's answers are made: in a thread when its handler may block."""
    return Offload({operation_id for operation_id, handler in found.items() if handler.blocking})


def layers(
    config: Config,
    state: AppState,
    routes: RouteTable,
    found: dict[str, handlers.Handler],
    offload: Offload,
    *,
    fast_path: bool = True,
) -> list[Layer]:
    """Every layer a request passes, in order; Flask and the handlers come last. Connexion's
    two exception layers (they answer with problem+json) are replaced by ErrorResponses,
    and its security layer is left out (impl/http/tokens.py says why). The operations each
    layer acts on come from the spec (impl/http/operations.py)."""
    tokens = config.tokens
    drills = config.drill_file is not None
    scraped = frozenset(op.operation_id for op in routes.operations if op.exposition)
    protected = frozenset(
        op.operation_id
        for op in routes.operations
        if tokens and (op.exposition or config.protect_system_endpoints)
    )
    limits = serving.limits(config)
    identity = identity_headers(config)
    scrapes = ScrapeQueue(config.max_concurrent_scrapes, config.max_queued_scrapes)
    answers = answers_of(state, found)
    fast = fast_operations(routes, answers, protected) if fast_path else frozenset()
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
        # Unknown path: 404; method not served: 405 with Allow; HEAD runs the GET; the
        # spec operation reached is named for the layers below (the docs pass through).
        partial(Routes, table=routes, passthrough=docs.DOCS_PATH),
        # Token-protected mode: the operations it protects need a valid token.
        *([partial(TokenGate, tokens=TokenChecker(tokens), protected=protected)] if tokens else []),
        # Failure drills (--drill-file): /metrics 503 or late, and every answer says so.
        *([partial(Drills, current=state.drills.current, operations=scraped)] if drills else []),
        # A few /metrics renders at once, shared by the requests that wait for the same
        # one, a bounded queue fair between clients, then 503; before any other work.
        partial(ScrapeSlots, operations=scraped, scrapes=scrapes),
        # gzip for /metrics, outside response validation, which reads bodies as text.
        partial(GzipOperations, operations=scraped),
        # Requests whose answer cannot depend on Connexion (no query, no body, an operation
        # whose validation cannot fail and the mode does not protect) skip it, and Flask.
        partial(FastPath, operations=fast, fast=Answers(answers, offload)),
        # /ui/: what a browser may do with the docs page (CSP, no framing, nosniff).
        partial(PageHeaders, prefix=docs.DOCS_PATH),
        # /ui/: Swagger UI, outside the spec and its routes.
        SwaggerUIMiddleware,
        # Connexion finds the operation of its own for the layers below.
        RoutingMiddleware,
        # Parameters against the spec: 400 before a handler runs (one-line messages).
        RequestValidation,
        # Responses against the spec: a handler's mistake is a 500, not a broken contract.
        ResponseValidationMiddleware,
        # Start-up and shut-down events (/ready answers 503 until start-up is done).
        LifespanMiddleware,
        # The request context the generated controllers and Flask read.
        ContextMiddleware,
    ]


def create_app(
    config: Config,
    state: AppState | None = None,
    *,
    fast_path: bool = True,
    server_process: bool = False,
) -> connexion.FlaskApp:
    """A ready-to-serve app for `config`, with its own registry and state; `fast_path`
    False sends every request through Connexion and Flask (the tests compare the two).
    `server_process`: the process serves this app alone until it exits, so what exists
    once it has started is frozen (serving.freeze_start_up_objects); an app made in a
    test leaves its garbage collectable."""
    state = state or AppState.create(config)
    spec = served_spec()
    routes = RouteTable.from_spec(spec, extra_get_paths=(docs.SPEC_JSON_PATH, docs.SPEC_YAML_PATH))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        if server_process:  # Connexion builds its layers and operations on this event
            serving.freeze_start_up_objects()
        state.ready = True
        try:
            yield
        finally:
            state.ready = False

    found = operation_handlers(routes)
    offload = offload_of(found)
    middlewares = layers(config, state, routes, found, offload, fast_path=fast_path)
    app = connexion.FlaskApp(__name__, lifespan=lifespan, middlewares=middlewares)
    serve_flask_with(app, partial(InlineWSGI, offload=offload))
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
