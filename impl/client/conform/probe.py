"""Sending one request and keeping exactly what came back, within bounded time.

Each request gets a connection of its own and `Connection: close`. The response is
framed by h11 (impl.client.rawhttp); what the server sends after it (a body on a
HEAD or 204 answer) is read until the server closes, within a short grace, so that it
is seen and not mistaken for another response. Bodies are kept as they came: a
compressed body stays compressed.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from impl.client.conform.model import Exchange, Received, SentRequest
from impl.client.conform.plan import Planned
from impl.client.rawhttp import InvalidResponse, NoResponse, ResponseReader
from impl.client.trust import refusal

USER_AGENT = "influx-metrics-conform/0.1"
TOKEN_SCHEME = "Token"  # what influxd documents and its official clients send
MASKED = "***"
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_TRAILING_BYTES = 64 * 1024
# A server that honours `Connection: close` closes at once; this bounds the wait for
# those that do not, while still catching bytes sent after a HEAD or 204 answer.
TRAILING_GRACE_SECONDS = 0.3
NO_BODY_STATUSES = frozenset({204, 304})


class OutOfTime(Exception):
    """The overall time limit or request budget is used up: nothing more is sent."""


class NotDelivered(Exception):
    """The request could not be delivered: no connection (or no TLS session) was made."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


class Probe:
    """Requests to one base URL: a time limit per request and overall, a request budget."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout: float,
        deadline: float,
        max_requests: int,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.prefix = parts.path.rstrip("/")  # a server mounted below a path (an ingress)
        self.token = token
        self.timeout = timeout
        self.deadline = deadline  # time.monotonic() value
        self.max_requests = max_requests
        self.sent = 0
        # impl.client.trust.client_context: the CA certificates trusted, or no check at all.
        self.tls = tls or ssl.create_default_context()

    def send(self, planned: Planned) -> Exchange:
        if self.sent >= self.max_requests:
            raise OutOfTime(f"the budget of {self.max_requests} requests is used up")
        budget = min(self.timeout, self.deadline - time.monotonic())
        if budget <= 0:
            raise OutOfTime("the overall time limit is reached")
        self.sent += 1
        purpose, method, operation = planned.purpose, planned.method, planned.operation
        request, wire = self._request(method, planned.path, planned.headers)
        started = time.monotonic()

        def unanswered(error: str, connected: bool = True) -> Exchange:
            elapsed = time.monotonic() - started
            return Exchange(purpose, request, None, error, elapsed, operation, connected=connected)

        try:
            response = self._exchange(method, wire, started + budget)
        except NotDelivered as err:
            if err.timed_out and budget < self.timeout:
                raise OutOfTime("the overall time limit is reached") from None
            return unanswered(str(err), connected=False)
        except TimeoutError:
            if budget < self.timeout:  # cut short by the overall limit, not by the server
                raise OutOfTime("the overall time limit is reached") from None
            return unanswered(f"no answer within {budget:.3g} s")
        except (OSError, InvalidResponse) as err:
            return unanswered(_describe(err))
        elapsed = time.monotonic() - started
        return Exchange(purpose, request, response, None, elapsed, operation)

    def _request(
        self, method: str, path: str, headers: Sequence[tuple[str, str]]
    ) -> tuple[SentRequest, bytes]:
        lines = [
            ("Host", self.host_header),
            ("User-Agent", USER_AGENT),
            ("Connection", "close"),
            *headers,
        ]
        if not any(name.lower() == "accept-encoding" for name, _ in lines):
            lines.append(("Accept-Encoding", "identity"))  # bodies as they are
        if method not in ("GET", "HEAD"):
            lines.append(("Content-Length", "0"))  # a wrong method is sent with no body
        shown = list(lines)
        if self.token is not None:
            lines.append(("Authorization", f"{TOKEN_SCHEME} {self.token}"))
            shown.append(("Authorization", f"{TOKEN_SCHEME} {MASKED}"))
        target = self.prefix + path
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines)
        return SentRequest(method, target, tuple(shown)), (head + "\r\n").encode("latin-1")

    def connect(self, deadline: float) -> socket.socket:
        """A connection to the server: the one place the transport is made (TLS
        options belong here)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=_left(deadline))
        except TimeoutError:
            raise NotDelivered("no connection in time", timed_out=True) from None
        except OSError as err:
            raise NotDelivered(_describe(err)) from None
        if self.scheme != "https":
            return sock
        try:
            return self.tls.wrap_socket(sock, server_hostname=self.host)
        except TimeoutError:
            sock.close()
            raise NotDelivered("no TLS session in time", timed_out=True) from None
        except OSError as err:
            sock.close()
            raise NotDelivered(_describe(err)) from None

    def _exchange(self, method: str, wire: bytes, deadline: float) -> Received:
        with self.connect(deadline) as sock:
            sock.settimeout(_left(deadline))
            sock.sendall(wire)
            reader = ResponseReader(sock, MAX_BODY_BYTES)
            response = reader.read(method, deadline)
            trailing = b""
            if method == "HEAD" or response.status in NO_BODY_STATUSES:
                trailing = reader.rest(MAX_TRAILING_BYTES, TRAILING_GRACE_SECONDS, deadline)
            headers = tuple(response.headers)
            return Received(response.status, response.reason, headers, response.body, trailing)


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name ({error.strerror})"
    if isinstance(error, ssl.SSLError) and (tls := refusal(error)):
        return tls.message
    if isinstance(error, NoResponse | InvalidResponse):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__
