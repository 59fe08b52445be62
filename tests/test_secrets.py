"""Tokens never leave the service: not in logs at debug level, bodies, headers or metrics.

Every path is requested with the right token, wrong tokens and the token in odd
places (query strings, paths, User-Agent, Accept, Zap-Trace-Span baggage, bodies,
malformed and oversized requests); then everything the service wrote or answered is
searched. The configured token may be echoed only masked (impl/http/redact.py); a wrong
token is sent only in Authorization, which is never written anywhere, so it must
not appear at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from impl.client.rawhttp import RawClient, RawResponse, build_request
from impl.http.redact import LOG_MASK
from tests.conftest import StartServer
from tools.live import LiveServer

TOKEN = "s3cr3t-T0ken_for/secrets-test=="
WRONG = "wr0ng-T0ken_not-configured=="
PATHS = ["/metrics", "/health", "/ready", "/ping", "/nowhere", "/metrics/", "/ui/"]
METHODS = ["GET", "HEAD", "POST", "DELETE"]
AUTHORIZATIONS = [
    f"Token {TOKEN}",
    f"Bearer {TOKEN}",
    f"Token {WRONG}",
    f"Bearer {WRONG}",
    f"Basic {WRONG}",
    WRONG,
    f"Token {TOKEN} {WRONG}",
]
SPAN = json.dumps(
    {"trace_id": "4bf92f3577b34da6", "span_id": "00f067aa0ba902b7", "baggage": {"token": TOKEN}}
)
ODD_PLACES: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("GET", f"/metrics?token={TOKEN}", []),
    ("GET", f"/metrics?name[]={TOKEN}", [("Authorization", f"Token {TOKEN}")]),
    ("GET", f"/ping?name={TOKEN}&zap_trace_span={TOKEN}", []),
    ("GET", f"/{TOKEN}", []),
    ("GET", f"/api/v2/{TOKEN}/ping", []),
    ("GET", "/ping", [("User-Agent", TOKEN)]),
    ("GET", "/ping", [("User-Agent", f"curl/8.5.0 ({TOKEN})")]),
    ("GET", "/metrics", [("Authorization", f"Token {TOKEN}"), ("Accept", TOKEN)]),
    ("GET", "/metrics", [("Authorization", f"Token {TOKEN}"), ("Zap-Trace-Span", SPAN)]),
    ("GET", "/ping", [("Zap-Trace-Span", SPAN), ("Content-Type", TOKEN), ("Cookie", TOKEN)]),
    ("POST", f"/metrics?token={TOKEN}", [("Authorization", f"Token {TOKEN}")]),
]


def everything(response: RawResponse) -> str:
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers)
    return f"{response.status}\n{headers}\n\n" + response.body.decode("latin-1")


def exercise(server: LiveServer) -> list[str]:
    """Every request of this test, and everything the service answered."""
    seen: list[str] = []
    with RawClient(server.port) as client:
        for path in PATHS:
            for method in METHODS:
                for authorization in [*AUTHORIZATIONS, None]:
                    headers = [] if authorization is None else [("Authorization", authorization)]
                    seen.append(everything(client.request(method, path, headers)))
        for method, target, headers in ODD_PLACES:
            seen.append(everything(client.request(method, target, headers)))
        for body in (TOKEN.encode(), (TOKEN * 100).encode()):
            headers = [("Authorization", f"Token {WRONG}"), ("Content-Length", str(len(body)))]
            seen.append(everything(client.request("GET", "/ping", headers, body)))
        for raw in (
            # Malformed (a NUL in a header) and oversized heads, refused before the app.
            build_request(b"GET", b"/ping", [(b"Authorization", f"Token {WRONG}\0".encode())]),
            build_request(
                b"GET",
                b"/ping",
                [
                    (b"Host", b"x"),
                    (b"Authorization", f"Token {TOKEN}".encode()),
                    (b"X", b"x" * 20_000),
                ],
            ),
        ):
            seen.append(everything(client.exchange(raw)))
        for accept in ("text/plain", "application/openmetrics-text"):
            headers = [("Authorization", f"Token {TOKEN}"), ("Accept", accept)]
            scrape = client.request("GET", "/metrics", headers)
            assert scrape.status == 200
            seen.append(everything(scrape))
    return seen


@pytest.fixture(params=["logfmt", "json"])
def debug_server(request: pytest.FixtureRequest, start_server: StartServer) -> Iterator[LiveServer]:
    live = start_server(
        "--log-level", "debug", "--log-format", request.param, "--protect-system-endpoints",
        env={"INFLUXDB_SYSINFO_TOKENS": f"{TOKEN},another-token"},
        wait=False,
    )  # fmt: skip
    live.wait_until_up(headers={"Authorization": f"Token {TOKEN}"})
    yield live


def test_tokens_appear_nowhere(debug_server: LiveServer) -> None:
    answers = exercise(debug_server)
    debug_server.stop()  # every line is written before the log is read
    log = debug_server.log()
    assert "debug" in log  # the log level under test was really on
    assert "unauthorized" in "".join(answers)  # and wrong tokens were really refused
    # Where the token was echoed, it was masked: the masks show it got that far (error
    # messages are masked before they are cut, the rest of an error body after).
    assert LOG_MASK in log
    assert any(LOG_MASK in answer or "*" * len(TOKEN) in answer for answer in answers)
    for secret in (TOKEN, WRONG):
        assert secret not in log
        leaks = [answer for answer in answers if secret in answer]
        assert not leaks, leaks[0]


def test_world_readable_token_file_is_refused_without_showing_it(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    os.chmod(token_file, 0o604)
    result = subprocess.run(
        [sys.executable, "-m", "impl.main", "--token-file", str(token_file)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"influxdb-sysinfo: token file {token_file} is world-readable: chmod o-r {token_file}"
    ]
    assert TOKEN not in result.stdout + result.stderr
