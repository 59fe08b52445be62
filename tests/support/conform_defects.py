"""A proxy on 127.0.0.1 in front of a live service that breaks exactly one thing.

Each `Defect` names the check ids that must fail because of it, and only those: the
conformance tests run `influx-metrics conform` through the proxy and compare. The proxy
also records every request it relays, so tests can say what the command sent.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host"}
# Set by the proxy itself; Content-Length is recomputed for the body it sends.
REPLACED = {"content-length", "date", "server"}
IDENTITY = [("X-Influxdb-Build", "OSS"), ("X-Influxdb-Version", "2.7.12")]


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    after_headers: bytes = b""  # sent even for HEAD: a body where none belongs

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def without(self, *names: str) -> Answer:
        lowered = {name.lower() for name in names}
        return replace(self, headers=[(k, v) for k, v in self.headers if k.lower() not in lowered])

    def with_header(self, name: str, value: str) -> Answer:
        return replace(self.without(name), headers=[*self.without(name).headers, (name, value)])


@dataclass(frozen=True)
class Relayed:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


RequestEdit = Callable[[Relayed], Relayed]
AnswerEdit = Callable[[Relayed, Answer], Answer]


def _same_request(request: Relayed) -> Relayed:
    return request


def _same_answer(_request: Relayed, answer: Answer) -> Answer:
    return answer


@dataclass(frozen=True)
class Defect:
    name: str
    breaks: frozenset[str]  # the check ids that fail because of it, and nothing else
    edit_request: RequestEdit = _same_request
    edit_answer: AnswerEdit = _same_answer
    # Answer without asking the service (None: relay).
    short_circuit: Callable[[Relayed], Answer | None] = lambda _request: None


@dataclass
class Proxy:
    upstream: str
    defect: Defect
    delay: float = 0.0
    relayed: list[Relayed] = field(default_factory=list)
    url: str = ""

    def answer(self, request: Relayed) -> Answer:
        self.relayed.append(request)
        if self.delay:
            time.sleep(self.delay)
        edited = self.defect.edit_request(request)
        answer = self.defect.short_circuit(edited) or self._relay(edited)
        return self.defect.edit_answer(request, answer)  # judged by what the client asked

    def _relay(self, request: Relayed) -> Answer:
        parts = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=15)
        try:
            headers = {k: v for k, v in request.headers if k.lower() not in HOP_BY_HOP}
            headers.setdefault("Accept-Encoding", "identity")
            connection.request(request.method, request.target, request.body or None, headers)
            response = connection.getresponse()
            body = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return Answer(response.status, response.reason, kept, body)
        finally:
            connection.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: Proxy  # set on the subclass made per proxy

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Relayed(self.command, self.path, list(self.headers.items()), body)
        answer = self.proxy.answer(request)
        self.send_response_only(answer.status, answer.reason)
        for name, value in answer.headers:
            if name.lower() not in REPLACED or name.lower() == "date":
                self.send_header(name, value)
        head_length = answer.header("Content-Length")
        if self.command == "HEAD" and head_length is not None:
            self.send_header("Content-Length", head_length)
        elif answer.status not in (204, 304) and self.command != "HEAD":
            self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and answer.status not in (204, 304):
            self.wfile.write(answer.body)
        self.wfile.write(answer.after_headers)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass  # the relayed list records what came


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that stops reading (a run out of time) is not a proxy failure.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextlib.contextmanager
def defect_proxy(upstream: str, defect: Defect, delay: float = 0.0) -> Iterator[Proxy]:
    proxy = Proxy(upstream, defect, delay)
    handler = type("Handler", (_Handler,), {"proxy": proxy})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _json_body(answer: Answer, edit: Callable[[dict[str, object]], object]) -> Answer:
    document = json.loads(answer.body)
    edit(document)
    return replace(answer, body=json.dumps(document, separators=(",", ":")).encode())


def _error_code(code: str) -> AnswerEdit:
    def edit(_request: Relayed, answer: Answer) -> Answer:
        if answer.status != 404:
            return answer
        answer = _json_body(answer, lambda document: document.update(code=code))
        return answer.with_header("X-Platform-Error-Code", code)

    return edit


def _plain_404(_request: Relayed, answer: Answer) -> Answer:
    if answer.status != 404:
        return answer
    page = answer.without("X-Platform-Error-Code", "Content-Type")
    return replace(
        page.with_header("Content-Type", "text/plain; charset=utf-8"), body=b"404 page not found\n"
    )


def _not_json(value: str | None) -> bool:
    if value is None:
        return False
    try:
        json.loads(value)
    except ValueError:
        return True
    return False


def _internal_error_for_bad_span(request: Relayed) -> Answer | None:
    if not _not_json(request.header("Zap-Trace-Span")):
        return None
    body = b'{"code":"internal error","message":"An internal error has occurred"}'
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Platform-Error-Code", "internal error"),
        *IDENTITY,
    ]
    return Answer(500, "Internal Server Error", headers, body)


def _metrics_content_type(request: Relayed, answer: Answer) -> Answer:
    if not request.target.startswith("/metrics") or answer.status != 200:
        return answer
    return answer.with_header("Content-Type", "text/html; charset=utf-8")


BUCKET = re.compile(r'^(\S+_bucket\{.*)le="0\.005"(.*\}) (\S+)$')


def break_histogram(text: str) -> str:
    """Empties the le=0.01 bucket after a non-empty le=0.005 one: no longer cumulative.
    A scrape without such a histogram (name[] selecting a counter) is left as it is."""
    lines = text.split("\n")
    for index, line in enumerate(lines[:-1]):
        found = BUCKET.match(line)
        if found and float(found.group(3)) > 0:
            following = lines[index + 1]
            assert 'le="0.01"' in following, following
            lines[index + 1] = following.rsplit(" ", 1)[0] + " 0.0"
            return "\n".join(lines)
    return text


def _broken_histogram(request: Relayed, answer: Answer) -> Answer:
    content_type = answer.header("Content-Type") or ""
    if not request.target.startswith("/metrics") or not content_type.startswith("text/plain"):
        return answer
    if request.method == "HEAD" or answer.status != 200:
        return answer
    if answer.header("Content-Encoding") == "gzip":
        broken = break_histogram(gzip.decompress(answer.body).decode())
        return replace(answer, body=gzip.compress(broken.encode()))
    return replace(answer, body=break_histogram(answer.body.decode()).encode())


def _ready_without_started(request: Relayed, answer: Answer) -> Answer:
    # GET only: a HEAD answer has no body to take `started` from.
    if request.method != "GET" or request.target != "/ready" or answer.status != 200:
        return answer
    return _json_body(answer, lambda document: document.pop("started"))


def _no_gzip(request: Relayed) -> Relayed:
    headers = [(k, v) for k, v in request.headers if k.lower() != "accept-encoding"]
    return replace(request, headers=[*headers, ("Accept-Encoding", "identity")])


def _head_as_get(request: Relayed) -> Relayed:
    return replace(request, method="GET") if request.method == "HEAD" else request


def _body_after_head(request: Relayed, answer: Answer) -> Answer:
    # A HEAD was relayed as a GET: its body goes out after the HEAD's headers.
    return replace(answer, after_headers=answer.body) if request.method == "HEAD" else answer


DEFECTS = [
    Defect("none", frozenset()),
    Defect(
        "missing version header",
        frozenset({"influxd.identity-headers"}),
        edit_answer=lambda _request, answer: answer.without("X-Influxdb-Version"),
    ),
    Defect("plain-text 404", frozenset({"errors.json-body"}), edit_answer=_plain_404),
    Defect(
        "500 for a bad trace header",
        frozenset({"spec.trace-span.no-effect"}),
        short_circuit=_internal_error_for_bad_span,
    ),
    Defect(
        "wrong content type on /metrics",
        frozenset({"spec.get-metrics.media-type"}),
        edit_answer=_metrics_content_type,
    ),
    Defect(
        "exposition with a broken histogram",
        frozenset({"metrics.exposition.histogram-cumulative"}),
        edit_answer=_broken_histogram,
    ),
    Defect(
        "/ready without started",
        frozenset({"influxd.ready.started"}),
        edit_answer=_ready_without_started,
    ),
    Defect(
        "405 without Allow",
        frozenset({"spec.wrong-method.allow"}),
        edit_answer=lambda _request, answer: answer.without("Allow"),
    ),
    Defect(
        "error code outside the enum",
        frozenset({"errors.code-enum"}),
        edit_answer=_error_code("no such path"),
    ),
    Defect(
        "code whose status is wrong",
        frozenset({"errors.code-status"}),
        edit_answer=_error_code("invalid"),
    ),
    Defect("gzip ignored", frozenset({"metrics.gzip"}), edit_request=_no_gzip),
    Defect(
        "HEAD with a body",
        frozenset({"http.head-no-body"}),
        edit_request=_head_as_get,
        edit_answer=_body_after_head,
    ),
]
