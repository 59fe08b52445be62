"""Token-protected mode: `Authorization: Token <t>` or `Bearer <t>`, checked in constant
time, on the operations the mode protects.

The spec lists the empty requirement beside the token for every operation (influxd serves
these endpoints publicly), so Connexion's security layer, which would let every request
through, is not in the stack: whether a token is needed is the running mode's decision.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from impl.errors import InfluxError
from impl.http.asgi import Layer, header, operation, send_error

log = logging.getLogger(__name__)

SCHEMES = ("token", "bearer")


def token_from_header(value: str | None) -> str | None:
    """The credential of an `Authorization: Token|Bearer <t>` header, else None."""
    scheme, _, credential = (value or "").strip().partition(" ")
    credential = credential.strip()
    return credential if credential and scheme.lower() in SCHEMES else None


class TokenChecker:
    """Accepts any of the configured tokens; never logs or returns them."""

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self._tokens = tuple(token.encode() for token in tokens)

    def accepts(self, header_value: str | None) -> bool:
        credential = token_from_header(header_value)
        if credential is None:
            return False
        offered = credential.encode("utf-8", "surrogateescape")
        # Every token compared (a list, not a short-circuit): the time does not tell which.
        return any([hmac.compare_digest(offered, token) for token in self._tokens])

    def __repr__(self) -> str:
        return f"TokenChecker(tokens={len(self._tokens)})"


@dataclass
class TokenGate(Layer):
    """401 for a protected operation without a valid token (after Connexion's routing,
    which names the operation)."""

    tokens: TokenChecker
    protected: frozenset[str]  # operation ids

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        reached = operation(scope)
        if (
            reached is not None
            and reached.operation_id in self.protected
            and not self.tokens.accepts(header(scope, b"authorization"))
        ):
            fields = {"operation": reached.operation_id}
            log.warning("rejected request without a valid token", extra={"fields": fields})
            await send_error(send, InfluxError("unauthorized", "unauthorized access"))
            return
        await self.app(scope, receive, send)
