"""Access control: public by default as influxd, tokens in token-protected mode.

In-process apps for the decisions; live processes where the log or the command line
is what is tested."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from starlette.testclient import TestClient

from impl.http.tokens import TokenChecker, token_from_header
from tests.conftest import MakeClient, StartServer
from tests.support.influx import assert_influx_error

TOKEN = "s3cr3t-token-for-tests-7f1c"


def test_metrics_public_by_default_and_tokens_ignored(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Token whatever"}, {"Authorization": "Bearer x"}):
        assert client.get("/metrics", headers=headers).status_code == 200


@pytest.fixture
def protected(make_client: MakeClient) -> TestClient:
    return make_client(tokens=(TOKEN, "another-token"))


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_protected_metrics_accept_token_and_bearer(protected: TestClient, scheme: str) -> None:
    response = protected.get("/metrics", headers={"Authorization": f"{scheme} {TOKEN}"})
    assert response.status_code == 200
    assert "http_api_requests" in response.text


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Token", "Token wrong", f"Basic {TOKEN}", f"Token {TOKEN}x", TOKEN],
)
def test_protected_metrics_reject_missing_or_wrong_token(
    protected: TestClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method in ("GET", "HEAD"):
        response = protected.request(method, "/metrics", headers=headers)
        assert response.status_code == 401
        assert response.headers["X-Platform-Error-Code"] == "unauthorized"
    body = assert_influx_error(protected.get("/metrics", headers=headers), 401, "unauthorized")
    assert body == {"code": "unauthorized", "message": "unauthorized access"}


def test_protected_mode_keeps_system_endpoints_public(protected: TestClient) -> None:
    assert protected.get("/ping").status_code == 204
    assert protected.head("/ping").status_code == 204
    assert protected.get("/health").status_code == 200
    assert protected.get("/ready").status_code == 200


def test_system_endpoints_protected_when_configured(make_client: MakeClient) -> None:
    client = make_client(tokens=(TOKEN,), protect_system_endpoints=True)
    for method, path in (
        ("GET", "/ping"),
        ("HEAD", "/ping"),
        ("GET", "/health"),
        ("GET", "/ready"),
    ):
        assert client.request(method, path).status_code == 401
        ok = client.request(method, path, headers={"Authorization": f"Token {TOKEN}"})
        assert ok.status_code in (200, 204)
    assert_influx_error(client.get("/health"), 401, "unauthorized")


def test_token_file(start_server: StartServer, tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# comment lines are not tokens\n{TOKEN}\n", encoding="utf-8")
    os.chmod(token_file, 0o600)
    live = start_server("--token-file", str(token_file))
    headers = {"Authorization": f"Token {TOKEN}"}
    assert requests.get(live.url + "/metrics", headers=headers, timeout=10).status_code == 200
    assert requests.get(live.url + "/metrics", timeout=10).status_code == 401


def test_metrics_disabled_is_forbidden_as_influxd(make_client: MakeClient) -> None:
    client = make_client(metrics_disabled=True)
    for method in ("GET", "HEAD"):
        response = client.request(method, "/metrics")
        assert response.status_code == 403
        assert response.headers["X-Platform-Error-Code"] == "forbidden"
    body = assert_influx_error(client.get("/metrics"), 403, "forbidden")
    assert body == {"code": "forbidden", "message": "metrics disabled"}
    assert client.get("/ping").status_code == 204


def test_token_never_in_logs_or_metrics(start_server: StartServer) -> None:
    live = start_server(env={"INFLUXDB_SYSINFO_TOKENS": TOKEN})
    requests.get(live.url + "/metrics", headers={"Authorization": "Token wrong"}, timeout=10)
    ok = requests.get(
        live.url + "/metrics", headers={"Authorization": f"Token {TOKEN}"}, timeout=10
    )
    assert ok.status_code == 200
    assert TOKEN not in ok.text and "wrong" not in ok.text
    assert "rejected request without a valid token" in live.log()
    assert TOKEN not in live.log()


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
