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
from connexion.decorators import parameter
from starlette.types import ASGIApp, Receive, Scope, Send

from impl.server.app import create_app
from impl.server.config import Config
from impl.upstream.connexion import PARAMETER_LOGGER, serve_flask_with


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
