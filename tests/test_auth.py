"""Access control: public by default as influxd, tokens in token-protected mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from impl.http.tokens import TokenChecker, token_from_header
from tests.conftest import StartServer
from tests.live import LiveServer
from tests.test_app import assert_influx_error

TOKEN = "s3cr3t-token-for-tests-7f1c"


def test_metrics_public_by_default_and_tokens_ignored(server: LiveServer) -> None:
    for headers in ({}, {"Authorization": "Token whatever"}, {"Authorization": "Bearer x"}):
        response = requests.get(server.url + "/metrics", headers=headers, timeout=10)
        assert response.status_code == 200


@pytest.fixture
def protected(start_server: StartServer) -> LiveServer:
    return start_server(env={"INFLUXDB_SYSINFO_TOKENS": f"{TOKEN},another-token"})


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_protected_metrics_accept_token_and_bearer(protected: LiveServer, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} {TOKEN}"}
    response = requests.get(protected.url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200
    assert "http_api_requests" in response.text


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Token", "Token wrong", f"Basic {TOKEN}", f"Token {TOKEN}x", TOKEN],
)
def test_protected_metrics_reject_missing_or_wrong_token(
    protected: LiveServer, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.get(protected.url + "/metrics", headers=headers, timeout=10)
    body = assert_influx_error(response, 401, "unauthorized")
    assert body == {"code": "unauthorized", "message": "unauthorized access"}
    assert TOKEN not in response.text


def test_protected_mode_keeps_system_endpoints_public(protected: LiveServer) -> None:
    assert requests.get(protected.url + "/ping", timeout=10).status_code == 204
    assert requests.get(protected.url + "/health", timeout=10).status_code == 200
    assert requests.get(protected.url + "/ready", timeout=10).status_code == 200


def test_system_endpoints_protected_when_configured(start_server: StartServer) -> None:
    live = start_server(
        "--protect-system-endpoints", env={"INFLUXDB_SYSINFO_TOKENS": TOKEN}, wait=False
    )
    live.wait_until_up(headers={"Authorization": f"Token {TOKEN}"})  # /ping needs one now
    for path in ("/ping", "/health", "/ready"):
        response = requests.get(live.url + path, timeout=10)
        assert_influx_error(response, 401, "unauthorized")
        ok = requests.get(live.url + path, headers={"Authorization": f"Token {TOKEN}"}, timeout=10)
        assert ok.status_code in (200, 204)


def test_token_file(start_server: StartServer, tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# comment lines are not tokens\n{TOKEN}\n", encoding="utf-8")
    os.chmod(token_file, 0o600)
    live = start_server("--token-file", str(token_file))
    headers = {"Authorization": f"Token {TOKEN}"}
    assert requests.get(live.url + "/metrics", headers=headers, timeout=10).status_code == 200
    assert requests.get(live.url + "/metrics", timeout=10).status_code == 401


def test_metrics_disabled_is_forbidden_as_influxd(start_server: StartServer) -> None:
    live = start_server("--metrics-disabled")
    for method in ("GET", "HEAD"):
        response = requests.request(method, live.url + "/metrics", timeout=10)
        assert response.status_code == 403
        assert response.headers["X-Platform-Error-Code"] == "forbidden"
    body = assert_influx_error(requests.get(live.url + "/metrics", timeout=10), 403, "forbidden")
    assert body == {"code": "forbidden", "message": "metrics disabled"}
    assert requests.get(live.url + "/ping", timeout=10).status_code == 204


def test_token_never_in_logs_or_metrics(protected: LiveServer) -> None:
    requests.get(protected.url + "/metrics", headers={"Authorization": "Token wrong"}, timeout=10)
    ok = requests.get(
        protected.url + "/metrics", headers={"Authorization": f"Token {TOKEN}"}, timeout=10
    )
    assert TOKEN not in ok.text
    assert "wrong" not in ok.text
    assert TOKEN not in protected.log()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Token abc", "abc"),
        ("Bearer abc", "abc"),
        ("token  abc ", "abc"),
        ("Basic abc", None),
        ("Token", None),
        ("", None),
        (None, None),
    ],
)
def test_token_from_header(header: str | None, expected: str | None) -> None:
    assert token_from_header(header) == expected


def test_checker_accepts_only_configured_tokens() -> None:
    checker = TokenChecker(("one", "two"))
    assert checker.accepts("Token one") and checker.accepts("Bearer two")
    assert not checker.accepts("Token three")
    assert not checker.accepts("Token on")
    assert "one" not in repr(checker)
