"""A small, typed layer over the generated client `sysinfo_client`, which stays as generated.

For any InfluxDB v2 instance (this service or influxd, same spec): parsed metric families,
typed results, and one exception type for an error answer (`ServerError`). Failures that
never reached an answer have their own types: "the server said no" is not "no server".
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import urllib3
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

from impl.client.trust import PathLike, check_ca_file, refusal
from sysinfo_client import ApiClient, ApiException, Configuration, SystemInformationEndpointsApi
from sysinfo_client.models.health_check import HealthCheck
from sysinfo_client.models.ready import Ready
from sysinfo_contract.names import selects, wanted_names

__all__ = [
    "ClientError",
    "ConnectionFailed",
    "DEFAULT_TIMEOUT_SECONDS",
    "Exposition",
    "InvalidURL",
    "Ping",
    "RequestTimedOut",
    "ServerError",
    "SysinfoClient",
    "TlsFailed",
    "UnexpectedResponse",
]

# Prometheus' default scrape timeout: a scrape this client cannot finish would fail there too.
DEFAULT_TIMEOUT_SECONDS = 10.0
USER_AGENT = "influxdb-sysinfo-client/0.1"
TEXT_ACCEPT = "text/plain; version=0.0.4"
# influxd answers with text whatever is asked, so the parser follows the answer's media type.
OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0, text/plain; version=0.0.4; q=0.5"
TOKEN_SCHEME = "Token"  # what influxd documents and the official clients send
SCHEMES = ("http", "https")
# One attempt per call: a probe must report what it saw, not what a retry hid.
# Redirects are still followed, for a service behind a proxy that adds a slash.
NO_RETRIES = urllib3.Retry(total=None, connect=0, read=0, other=0, status=0, redirect=3)
ERROR_TEXT_LIMIT = 200

ModelT = TypeVar("ModelT")


class ClientError(Exception):
    """Anything this client raises about a request; the subclasses say what went wrong."""


class ServerError(ClientError):
    """The server answered with an error status: InfluxDB's `code` and `message`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ConnectionFailed(ClientError):
    """No answer could be had: refused, unresolvable host, reset, TLS failure."""


class TlsFailed(ConnectionFailed):
    """The TLS handshake failed: the server's certificate was refused (expired, for
    another host, from an unknown CA), or no TLS was spoken. `unknown_authority`: the
    certificate leads to no trusted CA, the case for `ca_cert`."""

    def __init__(self, message: str, unknown_authority: bool = False) -> None:
        super().__init__(message)
        self.unknown_authority = unknown_authority


class RequestTimedOut(ClientError):
    """The server did not answer within the timeout."""


class UnexpectedResponse(ClientError):
    """A success status whose body is not what the API promises (e.g. not an exposition)."""


class InvalidURL(ClientError, ValueError):
    """The base URL cannot address an InfluxDB instance."""


class Exposition(NamedTuple):
    """One /metrics answer: the exposition text (already decompressed) and how it came."""

    text: str
    content_type: str
    compressed: bool

    @property
    def openmetrics(self) -> bool:
        return self.content_type.lower().startswith("application/openmetrics-text")

    def families(self, names: Sequence[str] | None = None) -> list[Metric]:
        """The metric families, parsed by prometheus_client; only those in `names` when given."""
        parse = openmetrics_families if self.openmetrics else text_families
        try:
            families = list(parse(self.text))
        except (ValueError, KeyError, IndexError) as err:
            # prometheus_client reports malformed input with any of these.
            raise UnexpectedResponse(
                f"body is not a valid exposition: {err or 'parse error'}"
            ) from err
        wanted = wanted_names(names)
        return [f for f in families if selects(wanted, f.name, (s.name for s in f.samples))]


class Ping(NamedTuple):
    """What GET /ping tells: the instance is alive, and its identity headers."""

    version: str | None
    build: str | None


def normalise_url(url: str) -> str:
    """The base URL without a trailing slash; InvalidURL when it cannot be one."""
    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
        _ = parts.port  # raises for a port that is not a number in range
    except ValueError as err:
        raise InvalidURL(f"invalid URL {url!r}: {err}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidURL(f"invalid URL {url!r}: the scheme must be http or https")
    if not parts.hostname:
        raise InvalidURL(f"invalid URL {url!r}: no host")
    if parts.query or parts.fragment:
        raise InvalidURL(f"invalid URL {url!r}: give the base URL, without a query or fragment")
    return candidate.rstrip("/")


def _header(headers: Any, name: str) -> str | None:
    """A header's first value, by case-insensitive name (the generated client keeps a dict)."""
    values = urllib3.HTTPHeaderDict(headers or {}).getlist(name)
    return values[0] if values else None


# The code influxd gives each status, for an error answer that names none (a proxy's
# page, a server that is not InfluxDB). The client stands without the server's package.
INFLUXD_CODE_OF_STATUS = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "request too large",
    414: "request too large",
    415: "unsupported media type",
    422: "unprocessable entity",
    429: "too many requests",
    431: "request too large",
    500: "internal error",
    501: "not implemented",
    503: "unavailable",
}


def server_error(status: int, body: bytes | str | None, headers: Any) -> ServerError:
    """The ServerError for an error answer, from InfluxDB's error JSON when it has one."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    document: Any = None
    with contextlib.suppress(ValueError):  # not JSON: keep what the headers and status say
        document = json.loads(text)
    error = document if isinstance(document, dict) else {}
    by_status = INFLUXD_CODE_OF_STATUS.get(status, "internal error" if status >= 500 else "invalid")
    code = error.get("code") or _header(headers, "X-Platform-Error-Code") or by_status
    # A proxy's or a non-InfluxDB server's page: its first line is the best clue.
    lines = text.strip().splitlines() or ["no error message in the response"]
    return ServerError(status, str(code), str(error.get("message") or lines[0][:ERROR_TEXT_LIMIT]))


class SysinfoClient:
    """The system-information API of one InfluxDB v2 instance at `url`. Over https, the
    server's certificate is checked against the system's CA certificates, or those in
    the PEM file `ca_cert`; `skip_verify` checks nothing (a test instance's self-signed
    certificate)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        user_agent: str = USER_AGENT,
        *,
        ca_cert: PathLike | None = None,
        skip_verify: bool = False,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.url = normalise_url(url)
        self.timeout = float(timeout)
        configuration = Configuration(
            host=self.url,
            retries=NO_RETRIES,
            ssl_ca_cert=None if ca_cert is None else check_ca_file(ca_cert),
            verify_ssl=not skip_verify,
        )
        if token is not None:
            # A control character would let a token split or forge HTTP headers.
            if not token or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in token):
                raise ValueError(
                    "a token must be non-empty, without whitespace or control characters"
                )
            configuration.api_key["TokenAuthentication"] = token
            configuration.api_key_prefix["TokenAuthentication"] = TOKEN_SCHEME
        # The generated class of the spec's tag "System information endpoints", for all four calls.
        self._api = SystemInformationEndpointsApi(ApiClient(configuration))
        self._api.api_client.user_agent = user_agent

    def __repr__(self) -> str:  # never shows the token
        return f"SysinfoClient(url={self.url!r}, timeout={self.timeout!r})"

    def close(self) -> None:
        self._api.api_client.rest_client.pool_manager.clear()

    def __enter__(self) -> SysinfoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transport(self) -> Iterator[None]:
        """Turns urllib3's and the generated client's failures into this module's types."""
        try:
            yield
        except urllib3.exceptions.HTTPError as err:
            reason = err.reason if isinstance(err, urllib3.exceptions.MaxRetryError) else None
            raise self._transport_error(reason or err) from err
        except ApiException as err:
            if err.status:
                raise server_error(err.status, err.body, err.headers) from err
            # status 0: the generated client's own (a TLS error, or an undeclared media type).
            if tls := refusal(err):
                raise self._tls_failed(tls.message, tls.unknown_authority) from err
            raise UnexpectedResponse(str(err.reason or "unexpected response")) from err

    def _tls_failed(self, message: str, unknown_authority: bool) -> TlsFailed:
        return TlsFailed(f"cannot connect to {self.url}: {message}", unknown_authority)

    def _transport_error(self, reason: BaseException) -> ClientError:
        if tls := refusal(reason):
            return self._tls_failed(tls.message, tls.unknown_authority)
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: it is no timeout.
        if isinstance(reason, urllib3.exceptions.TimeoutError) and not isinstance(
            reason, urllib3.exceptions.NewConnectionError
        ):
            return RequestTimedOut(f"{self.url}: no answer within {self.timeout:g}s")
        if isinstance(reason, urllib3.exceptions.LocationValueError):
            return InvalidURL(f"invalid URL {self.url!r}: {reason}")
        if isinstance(reason, urllib3.exceptions.DecodeError):
            return UnexpectedResponse(f"{self.url}: cannot decode the response body: {reason}")
        if isinstance(reason, urllib3.exceptions.ProtocolError):
            return ConnectionFailed(f"{self.url}: the connection broke off: {reason}")
        cause = reason.__cause__ or reason.__context__
        if isinstance(reason, urllib3.exceptions.NameResolutionError):
            why = "cannot resolve the host name"
        elif isinstance(cause, ConnectionRefusedError):
            why = "connection refused"
        elif isinstance(cause, OSError) and cause.strerror:
            why = cause.strerror.lower()
        else:
            why = str(reason)
        return ConnectionFailed(f"cannot connect to {self.url}: {why}")

    def scrape(
        self,
        names: Sequence[str] | None = None,
        *,
        gzip: bool = False,
        openmetrics: bool = False,
    ) -> Exposition:
        """GET /metrics as text. `names` keeps only those families (the `name[]` query);
        `gzip` asks for a compressed transfer (decompressed here); `openmetrics` prefers
        OpenMetrics 1.0.0, which a server may decline (influxd always sends text)."""
        with self._transport():
            response = self._api.get_metrics_without_preload_content(
                name=list(names) if names else None,
                _headers={
                    "Accept": OPENMETRICS_ACCEPT if openmetrics else TEXT_ACCEPT,
                    "Accept-Encoding": "gzip" if gzip else "identity",
                },
                _request_timeout=self.timeout,
            )
            try:
                body: bytes = response.data  # reads to the end, gunzipping as it goes
            finally:
                response.release_conn()
        if not 200 <= response.status <= 299:
            raise server_error(response.status, body, response.headers)
        content_type = _header(response.headers, "Content-Type") or ""
        media_type = content_type.split(";")[0].strip().lower()
        if media_type not in ("text/plain", "application/openmetrics-text"):
            raise UnexpectedResponse(
                f"{self.url}/metrics did not return a Prometheus exposition "
                f"(Content-Type: {content_type or 'none'})"
            )
        charset = re.search(r"charset=([\w.-]+)", content_type, re.IGNORECASE)
        try:
            text = body.decode(charset.group(1) if charset else "utf-8")
        except (LookupError, UnicodeDecodeError) as err:
            raise UnexpectedResponse(f"cannot decode the exposition: {err}") from err
        compressed = (_header(response.headers, "Content-Encoding") or "").lower() == "gzip"
        return Exposition(text, content_type, compressed)

    def metrics(
        self,
        names: Sequence[str] | None = None,
        *,
        gzip: bool = False,
        openmetrics: bool = False,
    ) -> list[Metric]:
        """The parsed metric families of GET /metrics (see `scrape` for the options)."""
        return self.scrape(names, gzip=gzip, openmetrics=openmetrics).families(names)

    def health(self) -> HealthCheck:
        """GET /health. A failing instance answers 503 with the same HealthCheck, which is
        returned (status "fail", the failing checks named), not raised."""
        with self._transport():
            try:
                return self._parsed(lambda: self._api.get_health(_request_timeout=self.timeout))
            except ApiException as err:
                if err.status == 503 and isinstance(err.data, HealthCheck):
                    return err.data
                raise

    def ready(self) -> Ready:
        """GET /ready; a starting instance's 503 is a ServerError (code "unavailable")."""
        with self._transport():
            return self._parsed(lambda: self._api.get_ready(_request_timeout=self.timeout))

    def ping(self) -> Ping:
        """GET /ping: returns when the instance answered 2xx, with its identity headers."""
        with self._transport():
            response = self._api.get_ping_with_http_info(_request_timeout=self.timeout)
        return Ping(
            version=_header(response.headers, "X-Influxdb-Version"),
            build=_header(response.headers, "X-Influxdb-Build"),
        )

    def _parsed(self, call: Callable[[], ModelT]) -> ModelT:
        """A generated call whose 2xx body must parse into its model."""
        try:
            result = call()
        except ValueError as err:  # JSON or pydantic validation of the body
            raise UnexpectedResponse(f"the answer does not match the API: {err}") from err
        if result is None:
            raise UnexpectedResponse("the answer has no body")
        return result
