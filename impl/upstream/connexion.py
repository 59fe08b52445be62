"""Connexion's, Starlette's, a2wsgi's and Flask's internals this service relies on, each
with the assumption it makes (tests/upstream/test_connexion.py states each one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import connexion
from starlette.types import ASGIApp

WSGIApp = Callable[..., Any]

# The logger Connexion's parameter decorator logs an error to, then serves the request,
# when a query parameter is named like a handler argument but not in the spec (`?name=x`
# beside `name[]`); impl/server/logs.py demotes it.
PARAMETER_LOGGER = "connexion.decorators.parameter"


def serve_flask_with(app: connexion.FlaskApp, bridge: Callable[[WSGIApp], ASGIApp]) -> None:
    """Serve `app`'s Flask app through `bridge(wsgi_app)` in place of a2wsgi. Assumes
    FlaskApp keeps its Flask side in `_middleware_app`, whose `asgi_app` (a2wsgi's
    WSGIMiddleware around `app.app.wsgi_app`) is what the last middleware calls."""
    flask_side = app._middleware_app
    flask_side.asgi_app = bridge(app.app.wsgi_app)
