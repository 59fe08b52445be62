"""An InfluxDB v2 system API of its own, on 127.0.0.1, and variants that each break one
rule.

`Influxd` answers as the spec and influxd's documented behaviour say (the faithful
server); it shares no code with the service, so conform is proved against a server
written from the documents, not against the answers it was developed with. A `Defect`
edits what it answers (or answers instead) in one way and names the checks that must
fail because of it, and only those.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from impl.client.conform.contract import carried_spec
from impl.client.conform.runner import all_checks

VERSION = "v2.7.12"
IDENTITY = (("X-Influxdb-Build", "OSS"), ("X-Influxdb-Version", VERSION))
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PATHS = ("/health", "/metrics", "/ping", "/ready")
ALLOWED = "GET, HEAD"
BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
AGENT = re.compile(r"[A-Za-z][\w.-]*")
MAX_NAMES, MAX_NAME_LENGTH = 100, 200  # the spec's bounds on name[]
INSTANCE_ID = "0a1b2c3d4e5f6a7b"
DURATIONS = "http_api_request_duration_seconds"


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    after: bytes = b""  # written after the response, whatever it is: a body where none belongs

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def without(self, *names: str) -> Answer:
        lowered = {name.lower() for name in names}
        return replace(self, headers=[(k, v) for k, v in self.headers if k.lower() not in lowered])

    def with_header(self, name: str, value: str) -> Answer:
        kept = self.without(name)
        return replace(kept, headers=[*kept.headers, (name, value)])

    def json(self) -> dict[str, object]:
        document: dict[str, object] = json.loads(self.body)
        return document

    def with_json(self, document: Mapping[str, object]) -> Answer:
        return replace(self, body=json.dumps(document, separators=(",", ":")).encode())


def error(status: int, reason: str, code: str, message: str) -> Answer:
    body = json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()
    headers = [("Content-Type", JSON_TYPE), ("X-Platform-Error-Code", code), *IDENTITY]
    return Answer(status, reason, headers, body)


def go_time(moment: datetime) -> str:
    """As Go marshals a time.Time: UTC, Z, nanoseconds with trailing zeros dropped."""
    fraction = f"{moment.microsecond:06d}000".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def go_duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.3f}s" if minutes else f"{rest:.3f}s"


@dataclass
class Influxd:
    """The faithful server: every answer as the spec and influxd's documents say."""

    token: str | None = None  # set: every request needs it, as influxd's private routes do
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request) -> Answer:
        if self.token is not None and request.header("Authorization") not in (
            f"Token {self.token}",
            f"Bearer {self.token}",
        ):
            return error(401, "Unauthorized", "unauthorized", "unauthorized access")
        if request.path not in PATHS:
            return error(404, "Not Found", "not found", "path not found")
        if request.method not in ("GET", "HEAD"):
            refused = error(405, "Method Not Allowed", "method not allowed", f"allow: {ALLOWED}")
            return refused.with_header("Allow", ALLOWED)
        route = {
            "/health": self.health,
            "/metrics": self.metrics,
            "/ping": self.ping,
            "/ready": self.ready,
        }[request.path]
        answer = route(request)
        self.record(request, answer)
        return answer

    def ping(self, _request: Request) -> Answer:
        return Answer(204, "No Content", list(IDENTITY))

    def health(self, _request: Request) -> Answer:
        document = {
            "name": "influxdb",
            "message": "ready for queries and writes",
            "status": "pass",
            "checks": [],
            "version": VERSION,
            "commit": "407fa622e9",
        }
        return Answer(200, "OK", [("Content-Type", JSON_TYPE), *IDENTITY]).with_json(document)

    def ready(self, _request: Request) -> Answer:
        up = (datetime.now(UTC) - self.started).total_seconds()
        document = {"status": "ready", "started": go_time(self.started), "up": go_duration(up)}
        return Answer(200, "OK", [("Content-Type", JSON_TYPE), *IDENTITY]).with_json(document)

    def metrics(self, request: Request) -> Answer:
        names = [v for k, v in parse_qsl(urlsplit(request.target).query) if k == "name[]"]
        if len(names) > MAX_NAMES or any(
            len(name) > MAX_NAME_LENGTH or not NAME.fullmatch(name) for name in names
        ):
            return error(400, "Bad Request", "invalid", "name[] must hold metric names")
        text = self.exposition(names)
        headers = [("Content-Type", TEXT_TYPE), *IDENTITY]
        if "gzip" in (request.header("Accept-Encoding") or "").lower():
            headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
            return Answer(200, "OK", headers, gzip.compress(text.encode()))
        return Answer(200, "OK", headers, text.encode())

    def record(self, request: Request, answer: Answer) -> None:
        """influxd records 2xx and 5xx answers only."""
        if answer.status // 100 not in (2, 5):
            return
        agent = AGENT.match(request.header("User-Agent") or "")
        labels = (
            "platform",
            request.method,
            request.path,
            str(answer.status),
            f"{answer.status // 100}XX",
            agent.group(0) if agent else "unknown",
        )
        with self.lock:
            self.counts[labels] += 1

    def exposition(self, names: list[str]) -> str:
        """influxd's families (text format 0.0.4, sorted by name), or those named."""
        with self.lock:
            counts = dict(self.counts)
        label_names = ("handler", "method", "path", "response_code", "status", "user_agent")
        durations, requests = [], []
        for values, count in counts.items():
            labels = ",".join(f'{k}="{v}"' for k, v in zip(label_names, values, strict=True))
            # Every request took a millisecond: each bucket holds all of them.
            durations += [f'{DURATIONS}_bucket{{{labels},le="{le}"}} {count}' for le in BUCKETS] + [
                f"{DURATIONS}_sum{{{labels}}} {count * 0.001:g}",
                f"{DURATIONS}_count{{{labels}}} {count}",
            ]
            requests.append(f"http_api_requests_total{{{labels}}} {count}")
        uptime = (datetime.now(UTC) - self.started).total_seconds()
        families = {
            DURATIONS: ("Time taken to respond to HTTP request", "histogram", durations),
            "http_api_requests_total": ("Number of http requests received", "counter", requests),
            "influxdb_info": (
                "Information about the influxdb environment.",
                "gauge",
                [
                    'influxdb_info{arch="amd64",build_date="2025-01-01T00:00:00Z",'
                    f'commit="407fa622e9",cpus="2",os="linux",version="{VERSION}"}} 1'
                ],
            ),
            "influxdb_uptime_seconds": (
                "influxdb process uptime in seconds",
                "gauge",
                [f'influxdb_uptime_seconds{{id="{INSTANCE_ID}"}} {uptime:.3f}'],
            ),
        }
        lines = []
        for name, (help_text, kind, samples) in sorted(families.items()):
            if not names or name in names:
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]
        return "".join(line + "\n" for line in lines)


AnswerEdit = Callable[[Request, Answer], Answer]
Instead = Callable[[Request], Answer | None]


def _same(_request: Request, answer: Answer) -> Answer:
    return answer


def _nothing(_request: Request) -> Answer | None:
    return None


@dataclass(frozen=True)
class Defect:
    name: str
    breaks: frozenset[str]  # the checks that fail because of it, and no other
    edit: AnswerEdit = _same
    instead: Instead = _nothing  # answers in place of the faithful server when it returns one


FAITHFUL = Defect("faithful", frozenset())


@dataclass
class DefectServer:
    url: str
    received: list[Request]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    influxd: Influxd  # set on the subclass made per server
    defect: Defect
    received: list[Request]
    delay: float
    leave: Callable[[], None]

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, self.path, list(self.headers.items()), body)
        self.received.append(request)
        if self.delay:
            time.sleep(self.delay)
        answer = self.defect.instead(request) or self.influxd.answer(request)
        self.leave()  # before answering: the client's next connection finds no listener
        self._write(self.defect.edit(request, answer))

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Every method reaches the server (`do_QUERY` too), which answers 405 itself."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _write(self, answer: Answer) -> None:
        no_body = self.command == "HEAD" or answer.status in (204, 304)
        self.send_response_only(answer.status, answer.reason)
        for name, value in answer.headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        if answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(answer.body)))
        if answer.after:  # what follows cannot be framed: nothing else on this connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not no_body:
            self.wfile.write(answer.body)
        self.wfile.write(answer.after)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A request the stdlib refuses before it reaches `_serve` is an InfluxDB error too."""
        codes = {400: "invalid", 414: "request too large", 431: "request too large"}
        answer = error(code, self.responses.get(code, ("",))[0], codes.get(code, "not implemented"),
                       message or "malformed request")  # fmt: skip
        self.close_connection = True
        self._write(answer.with_header("Connection", "close"))

    def log_message(self, format: str, *args: object) -> None:
        pass  # `received` records what came


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that leaves early (a run out of time) is no failure of the server


@contextlib.contextmanager
def influxd_server(
    defect: Defect = FAITHFUL,
    *,
    token: str | None = None,
    delay: float = 0.0,
    leave_after: int | None = None,
) -> Iterator[DefectServer]:
    """The faithful server with `defect`, on 127.0.0.1. `delay`: seconds before each
    answer. `leave_after`: after that many requests it stops listening, as a server
    that goes away half-way."""
    received: list[Request] = []
    closed = threading.Event()

    def leave() -> None:
        if leave_after is not None and len(received) >= leave_after and not closed.is_set():
            closed.set()
            # Shut down first: a close alone waits for the serving thread's poll to let
            # go of the socket, and meanwhile the kernel still accepts connections.
            server.socket.shutdown(socket.SHUT_RDWR)
            server.socket.close()  # new connections are refused from now on

    handler = type(
        "Handler",
        (_Handler,),
        {"influxd": Influxd(token), "defect": defect, "received": received, "delay": delay,
         "leave": staticmethod(leave)},
    )  # fmt: skip
    server = _Server(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield DefectServer(url, received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# Which checks a defect fails is said with the check ids of the carried spec's
# operations on a path, so that the list holds whatever the spec calls them.
def _on(path: str, suffix: str, methods: tuple[str, ...] = ("GET",)) -> set[str]:
    spec = carried_spec()
    known = {check.id for check in all_checks(spec)}
    return {
        f"spec.{op.slug}.{suffix}"
        for op in spec.operations
        if op.path == path and op.method in methods and f"spec.{op.slug}.{suffix}" in known
    }


def _metrics_answer(request: Request, answer: Answer) -> bool:
    return request.path == "/metrics" and answer.status == 200


def _on_body(path: str, change: Callable[[dict[str, object]], object]) -> AnswerEdit:
    def edit(request: Request, answer: Answer) -> Answer:
        if request.path != path or answer.status != 200 or request.method != "GET":
            return answer
        document = answer.json()
        change(document)
        return answer.with_json(document)

    return edit


def _on_errors(change: Callable[[Answer], Answer], statuses: tuple[int, ...] = ()) -> AnswerEdit:
    def edit(_request: Request, answer: Answer) -> Answer:
        wanted = answer.status in statuses if statuses else answer.status >= 400
        return change(answer) if wanted else answer

    return edit


def _on_exposition(change: Callable[[str], str]) -> AnswerEdit:
    """Edits the whole exposition, compressed or not (and its length for HEAD); a name[]
    scrape is left as it is, so that the defect shows on the plain scrape alone."""

    def edit(request: Request, answer: Answer) -> Answer:
        if not _metrics_answer(request, answer) or urlsplit(request.target).query:
            return answer
        compressed = answer.header("Content-Encoding") == "gzip"
        text = (gzip.decompress(answer.body) if compressed else answer.body).decode()
        body = change(text).encode()
        return replace(answer, body=gzip.compress(body) if compressed else body)

    return edit


def _with_code(code: str) -> Callable[[Answer], Answer]:
    def change(answer: Answer) -> Answer:
        document = answer.json()
        document["code"] = code
        return answer.with_json(document).with_header("X-Platform-Error-Code", code)

    return change


def _first_bucket_emptied(text: str) -> str:
    """The le="0.01" bucket of the first series below its le="0.005" one."""
    return re.sub(r'(le="0\.01"\}) \d+', r"\1 0", text, count=1)


def _without_inf(text: str) -> str:
    return "".join(line for line in text.splitlines(True) if 'le="+Inf"' not in line)


def _count_off_by_one(text: str) -> str:
    return re.sub(
        r"^(http_api_request_duration_seconds_count\{[^}]*\}) (\d+)$",
        lambda found: f"{found.group(1)} {int(found.group(2)) + 1}",
        text,
        count=1,
        flags=re.MULTILINE,
    )


def _bad_trace_span(request: Request) -> Answer | None:
    span = request.header("Zap-Trace-Span")
    if span is None:
        return None
    try:
        json.loads(span)
    except ValueError:
        return error(500, "Internal Server Error", "internal error",
                     "An internal error has occurred - check server logs")  # fmt: skip
    return None


def _page_for_unknown_paths(request: Request) -> Answer | None:
    if request.path in PATHS:
        return None
    page = b"<!doctype html><title>InfluxDB</title>"
    return Answer(200, "OK", [("Content-Type", "text/html; charset=utf-8"), *IDENTITY], page)


def _not_found_for_wrong_methods(request: Request) -> Answer | None:
    if request.path in PATHS and request.method not in ("GET", "HEAD"):
        return error(404, "Not Found", "not found", "path not found")
    return None


def _ping_with_body(request: Request) -> Answer | None:
    if request.path != "/ping" or request.method not in ("GET", "HEAD"):
        return None
    return Answer(200, "OK", [("Content-Type", "text/plain; charset=utf-8"), *IDENTITY], b"pong")


def _after_get_ping(request: Request, answer: Answer) -> Answer:
    if request.path == "/ping" and request.method == "GET":
        return replace(answer, after=b"pong")
    return answer


def _after_head(request: Request, answer: Answer) -> Answer:
    return replace(answer, after=answer.body) if request.method == "HEAD" else answer


def _head_metrics_as_text(request: Request, answer: Answer) -> Answer:
    if request.method == "HEAD" and _metrics_answer(request, answer):
        return answer.with_header("Content-Type", "text/plain; charset=utf-8")
    return answer


def _everywhere(change: Callable[[Answer], Answer]) -> AnswerEdit:
    return lambda _request, answer: change(answer)


def _metrics_header(name: str, value: str) -> AnswerEdit:
    def edit(request: Request, answer: Answer) -> Answer:
        return answer.with_header(name, value) if _metrics_answer(request, answer) else answer

    return edit


def _with_field(key: str, value: object) -> Callable[[dict[str, object]], None]:
    def change(document: dict[str, object]) -> None:
        document[key] = value

    return change


DEFECTS = [
    FAITHFUL,
    Defect(
        "/metrics served as text/html",
        frozenset(_on("/metrics", "media-type", ("GET", "HEAD"))),
        _metrics_header("Content-Type", "text/html; charset=utf-8"),
    ),
    Defect(
        "/health served as text/plain",
        frozenset(_on("/health", "media-type")),
        lambda request, answer: (
            answer.with_header("Content-Type", "text/plain; charset=utf-8")
            if request.path == "/health" and request.method == "GET"
            else answer
        ),
    ),
    Defect(
        "/health without its required name",
        frozenset({*_on("/health", "body"), "influxd.health"}),
        _on_body("/health", lambda document: document.pop("name")),
    ),
    Defect(
        "/health status pass with status fail",
        frozenset({"influxd.health"}),
        _on_body("/health", _with_field("status", "fail")),
    ),
    Defect(
        "/ready status outside its enum",
        frozenset(_on("/ready", "body")),
        _on_body("/ready", _with_field("status", "READY")),
    ),
    Defect(
        "/ready started not a date-time",
        frozenset({*_on("/ready", "body"), "influxd.ready.started"}),
        _on_body("/ready", _with_field("started", "yesterday")),
    ),
    Defect(
        "/ready started with an offset (valid RFC 3339, not as influxd writes it)",
        frozenset({"influxd.ready.started"}),
        _on_body("/ready", _with_field("started", "2026-05-26T17:42:30.1234+02:00")),
    ),
    Defect(
        "/ready up not a Go duration",
        frozenset({"influxd.ready.up"}),
        _on_body("/ready", _with_field("up", "62 seconds")),
    ),
    Defect(
        "/ping answered 200 with a body",
        frozenset(_on("/ping", "status", ("GET", "HEAD"))),
        instead=_ping_with_body,
    ),
    Defect(
        "/ping's 204 followed by a body",
        frozenset(_on("/ping", "body")),
        _after_get_ping,
    ),
    Defect(
        "errors as plain text",
        frozenset({"errors.json-body"}),
        _on_errors(
            lambda answer: replace(
                answer.with_header("Content-Type", "text/plain; charset=utf-8"),
                body=b"404 page not found\n",
            ),
            (404,),
        ),
    ),
    Defect(
        "errors without their code",
        frozenset({"errors.json-body"}),
        _on_errors(lambda answer: answer.with_json({"message": "path not found"}), (404,)),
    ),
    Defect(
        "error codes outside the enum",
        frozenset({"errors.code-enum"}),
        _on_errors(_with_code("no such thing")),
    ),
    Defect(
        "an error code with influxd's wrong status",
        frozenset({"errors.code-status"}),
        _on_errors(_with_code("invalid"), (404,)),
    ),
    Defect(
        "errors without X-Platform-Error-Code",
        frozenset({"influxd.error-code-header"}),
        _on_errors(lambda answer: answer.without("X-Platform-Error-Code")),
    ),
    Defect(
        "unknown paths answered with a page",
        frozenset({"spec.unknown-path"}),
        instead=_page_for_unknown_paths,
    ),
    Defect(
        "wrong methods answered 404",
        frozenset({"spec.wrong-method.status"}),
        instead=_not_found_for_wrong_methods,
    ),
    Defect(
        "405 without Allow",
        frozenset({"spec.wrong-method.allow"}),
        _on_errors(lambda answer: answer.without("Allow"), (405,)),
    ),
    Defect(
        "500 for a malformed Zap-Trace-Span",
        frozenset({"spec.trace-span.no-effect"}),
        instead=_bad_trace_span,
    ),
    Defect(
        "HEAD answers followed by a body",
        frozenset({"http.head-no-body"}),
        _after_head,
    ),
    Defect(
        "no X-Influxdb-Version",
        frozenset({"influxd.identity-headers"}),
        _everywhere(lambda answer: answer.without("X-Influxdb-Version")),
    ),
    Defect(
        "exposition that does not parse",
        frozenset({"metrics.exposition.parses"}),
        _on_exposition(lambda text: text + 'http_api_requests_total{method="GET" 1\n'),
    ),
    Defect(
        "histogram buckets not cumulative",
        frozenset({"metrics.exposition.histogram-cumulative"}),
        _on_exposition(_first_bucket_emptied),
    ),
    Defect(
        'histograms without le="+Inf"',
        frozenset({"metrics.exposition.histogram-inf"}),
        _on_exposition(_without_inf),
    ),
    Defect(
        "a histogram's _count off its +Inf bucket",
        frozenset({"metrics.exposition.histogram-count"}),
        _on_exposition(_count_off_by_one),
    ),
    Defect(
        "a metric name text format 0.0.4 does not allow",
        frozenset({"metrics.exposition.names"}),
        _on_exposition(
            lambda text: (
                text + '# HELP "influxdb.shards" Shards.\n'
                '# TYPE "influxdb.shards" gauge\n{"influxdb.shards"} 1\n'
            )
        ),
    ),
    Defect(
        "a family without HELP",
        frozenset({"metrics.exposition.help-type"}),
        _on_exposition(lambda text: re.sub(r"# HELP influxdb_info .*\n", "", text)),
    ),
    Defect(
        "influxdb_info missing",
        frozenset({"influxd.metrics.families"}),
        _on_exposition(lambda text: re.sub(r".*influxdb_info.*\n", "", text)),
    ),
    Defect(
        "text/plain without the format version",
        frozenset({"metrics.exposition.content-type"}),
        _metrics_header("Content-Type", "text/plain; charset=utf-8"),
    ),
    Defect(
        "HEAD /metrics with another Content-Type",
        frozenset({"metrics.head"}),
        _head_metrics_as_text,
    ),
    Defect(
        "gzip ignored",
        frozenset({"metrics.gzip"}),
        lambda request, answer: (
            replace(answer.without("Content-Encoding", "Vary"), body=gzip.decompress(answer.body))
            if _metrics_answer(request, answer) and answer.header("Content-Encoding") == "gzip"
            else answer
        ),
    ),
]
