"""Routing as the spec says it, decided in one place: which paths exist, which methods
each allows, and how HEAD is served.

Connexion routes with Starlette, then Flask, whose conveniences do not fit an API that
answers every request with a spec success or an InfluxDB error: Starlette redirects
`/metrics/` to `/metrics` (a Location built from the client's Host header), Werkzeug
merges slashes (`//metrics` would reach a view without its operation context) and
answers HEAD with an empty body that fails response validation. So `Routes` answers
unknown paths (404) and methods (405) from the table before Connexion, which then only
sees requests it can route exactly, and names the spec operation a request reaches in
its scope (`impl.http.asgi.operation`) for the layers below it and for Observe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from impl.errors import InfluxError
from impl.http.asgi import OPERATION, Layer, send_error
from impl.http.operations import Operation, spec_operations

log = logging.getLogger(__name__)

# RFC 9112 3.2.2: a server must accept a request target in absolute form
# (`GET http://host/ping`), as proxies send it; uvicorn passes it on as the path.
ABSOLUTE_FORM = ("http://", "https://")


def origin_path(path: str) -> str:
    """The path of a request target, in origin form."""
    if path.startswith(ABSOLUTE_FORM):
        return urlsplit(path).path or "/"
    return path


class Route(NamedTuple):
    served_as: str  # the method the request is served as
    operation: Operation | None  # None: a path outside the spec (the spec documents)


class RouteTable:
    """path -> {method: route}; HEAD is served as GET wherever GET is (HTTP requires HEAD
    there), also where the spec declares the HEAD operation: Flask would answer it with
    an empty body, which fails response validation, and the GET's answer without its
    body is what HEAD means."""

    def __init__(
        self, operations: Iterable[Operation], extra_get_paths: Iterable[str] = ()
    ) -> None:
        self.operations = tuple(operations)
        self._routes: dict[str, dict[str, Route]] = {
            path: {"GET": Route("GET", None)} for path in extra_get_paths
        }
        for operation in self.operations:
            if "{" in operation.path:  # no served operation has one; Routes would need a matcher
                raise ValueError(f"path parameters are not routed: {operation.path}")
            methods = self._routes.setdefault(operation.path, {})
            methods[operation.method] = Route(operation.method, operation)
        for methods in self._routes.values():
            if "GET" in methods:
                methods["HEAD"] = methods["GET"]

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], extra_get_paths: Iterable[str] = ()) -> RouteTable:
        return cls(spec_operations(spec), extra_get_paths)

    def templates(self) -> tuple[str, ...]:
        return tuple(self._routes)

    def template(self, path: str) -> str | None:
        """The route template of a request path (absolute form too), None if unknown."""
        path = origin_path(path)
        return path if path in self._routes else None

    def route(self, path: str, method: str) -> Route | None:
        """How a request in origin form is served, if it is (the fast path's look-up)."""
        methods = self._routes.get(path)
        return None if methods is None else methods.get(method)

    def served_as(self, path: str, method: str) -> str | None:
        route = self.route(origin_path(path), method)
        return None if route is None else route.served_as

    def allowed(self, path: str) -> tuple[str, ...]:
        """The methods a path allows, in a stable order (Allow and the 405 message)."""
        return tuple(sorted(self._routes.get(origin_path(path), ())))


@dataclass
class Routes(Layer):
    """404 for unknown paths, 405 with Allow for methods a path does not serve; HEAD
    on a GET operation runs the GET (uvicorn, which still sees HEAD, drops the body)."""

    table: RouteTable
    # A path (and what is under it) served outside the spec by a layer below: the docs.
    passthrough: str = ""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if self.passthrough and (path + "/").startswith(self.passthrough + "/"):
            await self.app(scope, receive, send)
            return
        route = self.table.route(origin_path(path), method)
        if route is None:
            allowed = self.table.allowed(path)
            if allowed:
                message = f"allow: {', '.join(allowed)}"
                error = InfluxError("method not allowed", message, allow=allowed)
            else:
                error = InfluxError("not found", "path not found")
            log.warning("request failed: %s %s: %s", method, path, error)
            await send_error(send, error)
            return
        if route.operation is not None:
            # For the layers below, and for Observe's count after the fact.
            scope.setdefault("extensions", {})[OPERATION] = route.operation
        if route.served_as != method:
            # A copy: the server's own scope must keep the method it received.
            scope = {**scope, "method": route.served_as}
        if path.startswith(ABSOLUTE_FORM):
            routed = origin_path(path)
            scope = {**scope, "path": routed, "raw_path": routed.encode()}
        await self.app(scope, receive, send)
