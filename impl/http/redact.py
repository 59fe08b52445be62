"""Configured tokens never leave the service, even where a client puts one by mistake.

Authorization is never logged, labelled or echoed, but a client may put a token where
text is echoed: a path (logged with a 404), a `name[]` value or an Accept header (quoted
by the 400's or the 406's message). So the service masks its own tokens where such text
ends up: every log line, tracebacks included, and every error body. Tokens it does not
know cannot be masked: unknown Authorization values are simply never written anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import Message, Receive, Scope, Send

from impl.http.asgi import Layer

LOG_MASK = "[redacted]"
ERROR_CODE_HEADER = b"x-platform-error-code"


class Redactor:
    """Masks every occurrence of the given secrets."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first: a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._encoded = [s.encode() for s in self._secrets]

    def text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, LOG_MASK)
        return text

    def same_length(self, data: bytes) -> bytes:
        """`data` with each secret's bytes turned into `*`: the Content-Length sent stays right."""
        for secret in self._encoded:
            if secret in data:
                data = data.replace(secret, b"*" * len(secret))
        return data

    def __repr__(self) -> str:
        return f"Redactor(secrets={len(self._secrets)})"


@dataclass
class RedactErrorBodies(Layer):
    """Masks the secrets in InfluxDB error bodies (those with X-Platform-Error-Code)."""

    redactor: Redactor

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_error = False

        async def masking_send(message: Message) -> None:
            nonlocal is_error
            if message["type"] == "http.response.start":
                is_error = any(name == ERROR_CODE_HEADER for name, _ in message.get("headers", ()))
            elif is_error and message["type"] == "http.response.body":
                message["body"] = self.redactor.same_length(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, masking_send)
