"""Peers for `influx-metrics conform` that are not InfluxDB and not written here: a TCP
service that does not speak HTTP, Python's own http.server, the `prometheus` binary.
All on 127.0.0.1, each alive only inside its `with` block."""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

from tests.support.other_servers import http_server
from tests.support.prometheus import Prometheus

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"
START_TIMEOUT_SECONDS = 30.0


@contextlib.contextmanager
def banner_server(banner: bytes = SSH_BANNER) -> Iterator[str]:
    """Accepts connections, writes a banner that is not HTTP, reads what the client
    says (as sshd reads the client's identification line), and closes. Closing with the
    client's bytes unread would reset the connection, and the banner with it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(banner)
                connection.settimeout(1.0)
                with contextlib.suppress(OSError):
                    connection.recv(65536)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # the run's report says what was served


def python_http_server(directory: Path) -> contextlib.AbstractContextManager[str]:
    """The stdlib's file server, as `python -m http.server` runs it."""
    return http_server(functools.partial(_QuietFiles, directory=str(directory)))


@contextlib.contextmanager
def prometheus_server(workdir: Path) -> Iterator[str]:
    """The `prometheus` binary with no scrape jobs: its own /metrics is Go's promhttp."""
    with Prometheus(workdir) as prometheus:
        yield prometheus.url


class _Hostile(SimpleHTTPRequestHandler):
    """Answers that are HTTP but wrong in every way a careless server can be: JSON of
    the wrong shapes, a gzip header on plain bytes, an unknown charset, binary text."""

    protocol_version = "HTTP/1.1"
    ANSWERS: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {
        "/health": (200, [("Content-Type", "application/json")], b'[1, "two", null]'),
        "/ready": (200, [("Content-Type", "application/json")], b'{"started": 5, "up": []}'),
        "/ping": (200, [("Content-Type", "text/plain; charset=x-unknown")], b"pong"),
        "/metrics": (
            200,
            [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")],
            b"\x00\xff",
        ),
    }

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        status, headers, body = self.ANSWERS.get(
            path, (404, [("Content-Type", "application/json")], b'{"code": 404}')
        )
        if self.headers.get("Accept", "").startswith("application/openmetrics"):
            headers, body = [("Content-Type", "application/openmetrics-text")], b"# EOF"
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()  # a body where none belongs

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def hostile_server() -> contextlib.AbstractContextManager[str]:
    return http_server(_Hostile)
