"""The assumptions impl/upstream/connexion.py makes about Connexion's (and a2wsgi's)
internals, each checked against the installed version, so that an upgrade that breaks
one turns its test red."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import connexion
from a2wsgi import WSGIMiddleware
from connexion.apps.flask import FlaskOperation
from connexion.decorators import parameter
from connexion.lifecycle import WSGIRequest
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.resolver import Resolver
from connexion.validators.parameter import ParameterValidator
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send
from werkzeug.wrappers import Request

from impl.server.app import create_app
from impl.server.config import Config
from impl.upstream.connexion import PARAMETER_LOGGER, OneLineParameterValidator, serve_flask_with


def test_connexion_logs_unknown_handler_arguments_to_the_parameter_logger() -> None:
    assert isinstance(parameter.logger, logging.Logger)
    assert parameter.logger.name == PARAMETER_LOGGER


def test_flask_apps_serve_flask_through_a2wsgi_in_their_middleware_app() -> None:
    app = connexion.FlaskApp(__name__)
    asgi_app = app._middleware_app.asgi_app
    assert isinstance(asgi_app, WSGIMiddleware)
    assert asgi_app.app == app.app.wsgi_app


def test_the_bridge_given_serves_every_request_flask_answers(tmp_path: Path) -> None:
    bridged: list[str] = []

    def bridge(wsgi_app: Callable[..., Any]) -> ASGIApp:
        a2wsgi: Any = WSGIMiddleware(wsgi_app)

        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            bridged.append(scope["path"])
            await a2wsgi(scope, receive, send)

        return recording

    app = create_app(Config(state_dir=tmp_path))
    serve_flask_with(app, bridge)
    with app.test_client() as client:
        assert client.get("/openapi.json").status_code == 200  # a Flask route
        assert client.get("/ping?x=1").status_code == 204  # an operation on the full path
    assert bridged == ["/openapi.json", "/ping"]


TWO_OPERATIONS = {
    "openapi": "3.0.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        path: {"get": {"operationId": path[1:], "responses": {"204": {"description": ""}}}}
        for path in ("/x", "/y")
    },
}
PATTERN_PARAMETER = {
    "name": "name[]",
    "in": "query",
    "schema": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}},
}


def test_connexion_reports_a_refused_value_in_several_lines() -> None:
    message = ParameterValidator.validate_parameter("query", ["A B"], PATTERN_PARAMETER)
    assert message is not None and len(message.splitlines()) > 1
    assert ParameterValidator.validate_parameter("query", ["ab"], PATTERN_PARAMETER) is None
    required = {**PATTERN_PARAMETER, "required": True}
    missing = ParameterValidator.validate_parameter("query", None, required)
    assert missing == "Missing query parameter 'name[]'"


def test_one_line_messages_name_the_parameter() -> None:
    message = OneLineParameterValidator.validate_parameter("query", ["A B"], PATTERN_PARAMETER)
    assert message == "invalid name[]: 'A B' does not match '^[a-z]+$'"


def test_request_validation_makes_its_parameter_validator_through_the_map_per_request() -> None:
    made: list[object] = []

    class Counting(ParameterValidator):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = connexion.ConnexionMiddleware(
        answer, middlewares=[RoutingMiddleware, RequestValidationMiddleware]
    )
    app.add_api(
        TWO_OPERATIONS,
        resolver=Resolver(lambda _: answer),
        validator_map={"parameter": Counting},
    )
    client = TestClient(app)  # no lifespan: `answer` serves HTTP only
    for _ in range(3):
        assert client.get("/x").status_code == 204
    assert len(made) == 3


def test_views_are_flask_operations_decorated_per_call_until_replaced(tmp_path: Path) -> None:
    app = connexion.FlaskApp(__name__, middlewares=[RoutingMiddleware, ContextMiddleware])
    app.add_api(TWO_OPERATIONS, resolver=Resolver(lambda _: lambda: ("", 204)))
    with app.test_client() as client:
        assert client.get("/x").status_code == 204  # the stack is built, the views registered
    views = [v for v in app.app.view_functions.values() if isinstance(v, FlaskOperation)]
    assert len(views) == 2
    for view in views:
        assert callable(view._fn)
        assert view.pythonic_params in (None, True, False)
        assert view.jsonifier is not None
        assert callable(view.fn)
    served = create_app(Config(state_dir=tmp_path))
    with served.test_client() as client:
        assert client.get("/ping?x=1").status_code == 204
    assert not [v for v in served.app.view_functions.values() if isinstance(v, FlaskOperation)]


def test_connexions_flask_request_finds_its_context_in_the_environs_asgi_scope() -> None:
    # impl/http/wsgi.py puts the ASGI scope in the environ under this key, as a2wsgi does.
    scope: dict[str, Any] = {"extensions": {"connexion_context": {"user": "u"}}}
    request = WSGIRequest(Request({"asgi.scope": scope}))
    assert request.context == {"user": "u"}
