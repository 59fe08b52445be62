"""Routing as the spec says it, decided in one place: which paths exist, which methods
each allows, and how HEAD is served.

Connexion routes with Starlette, then Flask, whose conveniences do not fit an API that
answers every request with a spec success or an InfluxDB error: Starlette redirects
`/metrics/` to `/metrics` (a Location built from the client's Host header), Werkzeug
merges slashes (`//metrics` would reach a view without its operation context) and
answers HEAD with an empty body that fails response validation. So `Routes` answers
unknown paths (404) and methods (405) from the table before Connexion, which then only
sees requests it can route exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from impl.errors import InfluxError
from impl.http.asgi import Layer, send_error
from sysinfo_contract import HTTP_METHODS

log = logging.getLogger(__name__)

# RFC 9112 3.2.2: a server must accept a request target in absolute form
# (`GET http://host/ping`), as proxies send it; uvicorn passes it on as the path.
ABSOLUTE_FORM = ("http://", "https://")


def origin_path(path: str) -> str:
    """The path of a request target, in origin form."""
    if path.startswith(ABSOLUTE_FORM):
        return urlsplit(path).path or "/"
    return path


class RouteTable:
    """path -> {method: the method it is served as}; HEAD is served as GET wherever GET
    is (HTTP requires HEAD there), also where the spec declares the HEAD operation:
    Flask would answer it with an empty body, which fails response validation."""

    def __init__(self, paths: Mapping[str, Iterable[str]]) -> None:
        self._routes: dict[str, dict[str, str]] = {}
        for path, methods in paths.items():
            if "{" in path:  # no served operation has one; Routes would need a matcher
                raise ValueError(f"path parameters are not routed: {path}")
            served = {method.upper(): method.upper() for method in methods}
            if "GET" in served:
                served["HEAD"] = "GET"
            self._routes[path] = served

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], extra_get_paths: Iterable[str] = ()) -> RouteTable:
        paths: dict[str, list[str]] = {path: ["get"] for path in extra_get_paths}
        for path, item in spec["paths"].items():
            paths[path] = [method for method in HTTP_METHODS if method in item]
        return cls(paths)

    def template(self, path: str) -> str | None:
        """The route template of a request path (absolute form too), None if unknown."""
        path = origin_path(path)
        return path if path in self._routes else None

    def served_as(self, path: str, method: str) -> str | None:
        return self._routes.get(origin_path(path), {}).get(method)

    def allowed(self, path: str) -> tuple[str, ...]:
        """The methods a path allows, in a stable order (Allow and the 405 message)."""
        return tuple(sorted(self._routes.get(origin_path(path), ())))


@dataclass
class Routes(Layer):
    """404 for unknown paths, 405 with Allow for methods a path does not serve; HEAD
    on a GET operation runs the GET (uvicorn, which still sees HEAD, drops the body)."""

    table: RouteTable

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        served_as = self.table.served_as(path, method)
        if served_as is None:
            allowed = self.table.allowed(path)
            if allowed:
                message = f"allow: {', '.join(allowed)}"
                error = InfluxError("method not allowed", message, allow=allowed)
            else:
                error = InfluxError("not found", "path not found")
            log.warning("request failed: %s %s: %s", method, path, error)
            await send_error(send, error)
            return
        if served_as != method:
            # A copy: the server's own scope must keep the method it received.
            scope = {**scope, "method": served_as}
        if path.startswith(ABSOLUTE_FORM):
            routed = origin_path(path)
            scope = {**scope, "path": routed, "raw_path": routed.encode()}
        await self.app(scope, receive, send)
