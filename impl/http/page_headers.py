"""Browser security headers for the pages under a path (the API docs at /ui/), whose
Swagger UI scripts run in the browser of whoever opens them:

- `Content-Security-Policy`: scripts, styles, images and requests from this service only
  (`'self'`, plus `data:` images, which Swagger UI's stylesheet uses for its icons);
  nothing may frame the page, no plugin runs, no form posts elsewhere. The page's one
  inline script (it starts Swagger UI) and one inline style block are allowed by their
  SHA-256 hashes, computed from the page as served, not by `'unsafe-inline'`, so a
  script injected into the page would not run. The page is Connexion's template filled
  from the configuration only, never the request: hashing it blesses nothing a client wrote.
- `X-Frame-Options: DENY`, for browsers older than `frame-ancestors`.
- `X-Content-Type-Options: nosniff`: each asset is used as what its Content-Type says.
- `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from starlette.types import Message, Receive, Scope, Send

from impl.http.asgi import Layer, rewriting_send

POLICY = (
    "default-src 'none'; script-src 'self'{scripts}; style-src 'self'{styles}; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"
)
FIXED_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
_INLINE_STYLE = re.compile(rb"<style>(.*?)</style>", re.DOTALL)


def _hashes(pattern: re.Pattern[bytes], page: bytes) -> str:
    return "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()}'"
        for m in pattern.finditer(page)
    )


def policy(page: bytes) -> bytes:
    """The Content-Security-Policy for `page` (HTML), or for any other asset (b"")."""
    text = POLICY.format(scripts=_hashes(_INLINE_SCRIPT, page), styles=_hashes(_INLINE_STYLE, page))
    return text.encode()


@dataclass
class PageHeaders(Layer):
    """Adds the headers above to every response under `prefix`."""

    prefix: str

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        def head(start: Message) -> tuple[Message, bool]:
            headers = [*start.get("headers", ()), *FIXED_HEADERS]
            if any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                # A page's policy depends on its body: held until it is known.
                return {**start, "headers": headers}, True
            headers.append((b"content-security-policy", policy(b"")))
            return {**start, "headers": headers}, False  # assets stream as they are

        async def with_policy(start: Message, body: bytes) -> tuple[Message, bytes]:
            csp = (b"content-security-policy", policy(body))
            return {**start, "headers": [*start["headers"], csp]}, body

        await self.app(scope, receive, rewriting_send(send, head, with_policy))
