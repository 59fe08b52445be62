"""What a client may meet at a URL instead of InfluxDB: nothing, a silent peer, a web page.

All on 127.0.0.1, all bounded: each lives only inside its `with` block.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HTML_PAGE = b"<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>\n"
BAD_GATEWAY_PAGE = b"<html><head><title>502 Bad Gateway</title></head></html>\n"


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs: bound
    here and never listened on, so no other process can take it meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """A base URL whose peer accepts connections (the kernel completes the handshake
    from the backlog) but never answers: every request times out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


class _WebPage(BaseHTTPRequestHandler):
    """A web server that is not InfluxDB: a page at /metrics, a proxy error elsewhere."""

    def do_GET(self) -> None:
        if self.path.startswith("/metrics"):
            status, body = 200, HTML_PAGE
        else:
            status, body = 502, BAD_GATEWAY_PAGE
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean; the assertions say what was served


@contextlib.contextmanager
def http_server(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[str]:
    """The base URL of a stdlib HTTP server answering with `handler`, in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def web_page_server() -> contextlib.AbstractContextManager[str]:
    return http_server(_WebPage)
