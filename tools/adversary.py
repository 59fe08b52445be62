"""An adversary of the HTTP metrics: requests chosen to make as many series as it can.

Random requests (tests/test_fuzz.py) land in a few dozen label sets; an attacker who
reads the label rules aims instead. This one enumerates every label value a client
can choose or provoke, on purpose, and sends their product:

- every User-Agent name the service knows (each product, each browser family), one
  it does not (`other`) and none (`unknown`);
- every method a route serves (GET, HEAD) on every path of the spec;
- every status each request can be made to get: an odd Accept (406), an invalid
  `name[]` (400), a missing or wrong token (401, when tokens are configured);
- and what reaches no operation, counted without method and agent: other methods
  (405), unknown paths (404), a body too large (413), a complete head larger than the
  limit (431), each from every agent and method anyway, as an attacker would try.

Only requests that reach the app are sent (no malformed HTTP, which is refused before
it and not counted), so every one must be counted exactly once: `sent` is the count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from impl.client.rawhttp import RawClient
from impl.http.limits import MAX_BODY_BYTES
from impl.metrics.user_agents import BROWSER_MARKERS, KNOWN_PRODUCTS

SPEC_PATHS = ("/metrics", "/health", "/ready", "/ping")
OTHER_PATHS = ("/nowhere", "/api/v2/metrics", "/openapi.json", "/ui/", "/metrics/")
ROUTED_METHODS = ("GET", "HEAD")
UNROUTED_METHODS = ("POST", "DELETE", "PATCH", "OPTIONS", "BREW")
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def user_agents() -> list[str | None]:
    """A header for every name of the user_agent label: each known product, each
    browser family, an unknown agent and none."""
    agents: list[str | None] = [f"{product}/1.0" for product in KNOWN_PRODUCTS.values()]
    agents += [f"Mozilla/5.0 (X11; Linux x86_64) {marker}1.0" for marker, _ in BROWSER_MARKERS]
    agents += ["Mozilla/5.0 (compatible; adversary)", "adversary/6.6.6", None]
    return agents


@dataclass(frozen=True)
class Shot:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...] = ()


def variants(token: str | None) -> list[tuple[tuple[str, str], ...]]:
    """Header sets that provoke each status a routed request can get."""
    auth = (("Authorization", f"Token {token}"),) if token else ()
    found: list[tuple[tuple[str, str], ...]] = [
        auth,  # 200 / 204
        (*auth, ("Accept", "image/png")),  # 406 on /metrics
        (*auth, ("Accept", OPENMETRICS)),  # 200 again, in the other format
    ]
    if token:
        found += [(), (("Authorization", "Token not-the-token"),)]  # 401
    return found


def shots(agent: str | None, token: str | None, max_header_size: int) -> Iterator[Shot]:
    """Every request the adversary sends as `agent`."""
    who = (("User-Agent", agent),) if agent is not None else ()
    for path in SPEC_PATHS:
        for method in ROUTED_METHODS:
            for headers in variants(token):
                yield Shot(method, path, (*who, *headers))
            auth = variants(token)[0]
            yield Shot(method, path + "?name[]=not!a-name", (*who, *auth))  # 400 on /metrics
    for path in (*SPEC_PATHS, *OTHER_PATHS):
        for method in UNROUTED_METHODS:
            yield Shot(method, path, who)  # 405 or 404
        for method in ROUTED_METHODS:
            yield Shot(method, path, who)  # 404 for the other paths
        # 413, refused before the body is read: none is sent, so none is left unread.
        yield Shot("GET", path, (*who, ("Content-Length", str(MAX_BODY_BYTES + 1))))
        padding = ("X-Padding", "p" * max_header_size)
        yield Shot("GET", path, (*who, padding))  # 431, the head complete in one write


def all_shots(token: str | None = None, max_header_size: int = 16384) -> list[Shot]:
    return [shot for agent in user_agents() for shot in shots(agent, token, max_header_size)]


def attack(port: int, token: str | None = None, max_header_size: int = 16384) -> dict[int, int]:
    """Send every shot over keep-alive connections; the statuses received, counted."""
    statuses: dict[int, int] = {}
    with RawClient(port) as client:
        for shot in all_shots(token, max_header_size):
            response = client.request(shot.method, shot.target, shot.headers)
            statuses[response.status] = statuses.get(response.status, 0) + 1
    return statuses


__all__ = ["ROUTED_METHODS", "SPEC_PATHS", "Shot", "all_shots", "attack", "user_agents"]
