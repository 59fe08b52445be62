"""The fast path: requests whose answer cannot depend on Connexion skip it, and Flask.

Derived from the spec at start-up (impl/http/operations.py): an operation whose request
validation cannot fail for a request without a query string or a body (no required
parameter, only unconstrained header parameters, no defaults to hand the handler) is
answered without Connexion's routing and validation, without a WSGI bridge and without
Flask, when its request has neither, and when the running mode does not protect it with
a token. Its answer is the handler's own (impl/http/answers.py); every layer above the
fork (identity headers, counting, the access log, error rendering, limits, routing, the
token gate, scrape slots, gzip) is the same for both paths. Every other request (a query
string such as `name[]`, a body, a protected operation in token-protected mode) takes
the full path unchanged. tests/test_fastpath.py sends the same requests both ways and
compares status, headers and body, what each counted and logged, and passes the fast
answers through Connexion's response validation.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from impl.http.asgi import Layer, has_body, operation
from impl.http.routes import RouteTable


def fast_operations(
    table: RouteTable, answered: Collection[str], protected: Collection[str]
) -> frozenset[str]:
    """The operation ids whose requests the fast path may take: those whose validation
    cannot fail, that have an answer of their own (`answered`) and that the running mode
    does not protect with a token."""
    return frozenset(
        each.operation_id
        for each in table.operations
        if each.validation_cannot_fail
        and each.operation_id in answered
        and each.operation_id not in protected
    )


@dataclass
class FastPath(Layer):
    """Sends the requests for `operations` (see fast_operations) that have neither a query
    string nor a body to `fast`; every other request goes on to the full path (`app`)."""

    operations: frozenset[str]
    fast: ASGIApp

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        reached = operation(scope)
        if (
            reached is None
            or reached.operation_id not in self.operations
            or scope.get("query_string")
            or has_body(scope)
        ):
            await self.app(scope, receive, send)
            return
        await self.fast(scope, receive, send)
