"""Routing as the spec says it, and no more leniently.

Connexion routes with Starlette and hands over to Flask; two of their conveniences
do not fit an API that must answer every request with a spec success or an InfluxDB
error: Starlette's trailing-slash redirects, and HEAD on GET routes, which Werkzeug
answers with an empty body that then fails response validation. (Requests Connexion
does not route never reach Flask: impl/middleware.py's OperationGate answers 404.)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from connexion.middleware import ConnexionMiddleware
from connexion.middleware.routing import RoutingMiddleware
from starlette.routing import Mount, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from impl.middleware import operation_id


class ExactRouting(RoutingMiddleware):  # type: ignore[misc]  # connexion is untyped
    """Connexion's routing without Starlette's trailing-slash redirects.

    Starlette answers `/metrics/` with a 307 to `/metrics`, built from the request's
    Host header: neither a spec response nor an InfluxDB error, and a Location any
    client can point elsewhere. Here `/metrics/` is a 404 like any unknown path
    (influxd has no such redirect either).
    """

    def add_api(self, *args: Any, **kwargs: Any) -> None:
        super().add_api(*args, **kwargs)
        routers: list[Router] = [self.router]
        for route in self.router.routes:
            app = route.app if isinstance(route, Mount) else None
            while isinstance(app, Router):  # APIs sharing a base path are chained
                routers.append(app)
                app = app.default
        for router in routers:
            router.redirect_slashes = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(ABSOLUTE_FORM):
            scope = origin_form(scope)
        await super().__call__(scope, receive, send)


# RFC 9112 3.2.2: a server must accept a request target in absolute form
# (`GET http://host/ping`), as proxies send it; uvicorn passes it on as the path.
ABSOLUTE_FORM = ("http://", "https://")


def origin_form(scope: Scope) -> Scope:
    """The scope routed by the path of an absolute-form target (the Host header, not
    the target's authority, stays what the app sees)."""
    path = urlsplit(scope["path"]).path or "/"
    raw_path = urlsplit(scope.get("raw_path") or scope["path"].encode()).path or b"/"
    return {**scope, "path": path, "raw_path": raw_path}


def middleware_stack() -> list[Any]:
    """Connexion's default middlewares, with ExactRouting in place of its routing."""
    return [
        ExactRouting if middleware is RoutingMiddleware else middleware
        for middleware in ConnexionMiddleware.default_middlewares
    ]


class HeadAsGet:
    """After routing: HEAD on a GET operation runs the GET, whose body uvicorn then drops.

    Werkzeug gives a HEAD response an empty body before Connexion validates it, and an
    empty body is not a valid HealthCheck or Ready: HEAD /health would be a 500. Run as
    GET, the response validates, and uvicorn, which still sees the HEAD, sends the
    GET's status and headers without the body, as HTTP asks of HEAD.
    """

    def __init__(self, app: ASGIApp, *, get_operations: frozenset[str]) -> None:
        self.app = app
        self.get_operations = get_operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            if operation_id(scope) in self.get_operations:
                # A copy: the server's own scope must keep saying HEAD.
                scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


__all__ = ["ExactRouting", "HeadAsGet", "middleware_stack", "origin_form"]
