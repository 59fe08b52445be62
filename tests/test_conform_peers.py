"""`influx-metrics conform` against servers that are not InfluxDB, written elsewhere:
a clear verdict and the right exit status, in bounded time, never a traceback."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.conform_cli import assert_clean, conform_command
from tests.support.conform_peers import (
    banner_server,
    hostile_server,
    prometheus_server,
    python_http_server,
)
from tests.support.other_servers import closed_port, silent_listener, web_page_server

pytestmark = pytest.mark.slow  # foreign servers, prometheus among them, and peers that never answer

NOT_INFLUXDB = "this does not look like InfluxDB"


def test_a_web_page_is_not_conformant() -> None:
    with web_page_server() as url:
        run = conform_command(url, "--format", "json")
    assert_clean(run)
    document = run.document()
    assert run.status == 1
    assert document["verdict"].startswith("NOT CONFORMANT")
    assert any(NOT_INFLUXDB in note for note in document["notes"])
    failed = run.ids("fail")
    assert {"spec.get-metrics.media-type", "metrics.exposition.parses"} <= failed
    assert {"spec.get-ping.status", "errors.json-body", "influxd.identity-headers"} <= failed


def test_a_closed_port_is_unreachable() -> None:
    with closed_port() as port:
        run = conform_command(f"http://127.0.0.1:{port}")
    assert run.status == 3
    assert "UNREACHABLE" in run.stdout and "connection refused" in run.stdout
    assert "1 requests" in run.stdout  # nothing more is tried
    assert "Traceback" not in run.stderr


def test_a_peer_that_never_answers_is_unreachable_within_the_timeout() -> None:
    with silent_listener() as url:
        run = conform_command(url, "--timeout", "1", "--format", "json")
    assert run.status == 3
    assert (
        run.document()["verdict"] == "UNREACHABLE: GET /health -> no answer: no answer within 1 s"
    )
    assert run.document()["requests"] == 1  # the first went unanswered: nothing more is sent
    assert run.stderr.startswith("influx-metrics: UNREACHABLE")
    assert_clean(run)


def test_a_peer_that_does_not_speak_http_is_unreachable() -> None:
    with banner_server() as url:
        run = conform_command(url)
    assert run.status == 3
    assert "not HTTP" in run.stdout and "SSH-2.0" in run.stdout
    assert "Traceback" not in run.stderr


def test_pythons_http_server_runs_to_the_end(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>hello</p>\n", encoding="utf-8")
    with python_http_server(tmp_path) as url:
        run = conform_command(url, "--format", "json")
    assert_clean(run)
    assert run.status == 1
    checks = run.checks()
    assert checks["http.reachable"]["outcome"] == "pass"
    assert checks["spec.get-ping.status"]["outcome"] == "fail"
    assert checks["spec.wrong-method.status"]["outcome"] == "fail"  # 501 for POST


def test_prometheus_own_server_runs_to_the_end(tmp_path: Path) -> None:
    with prometheus_server(tmp_path) as url:
        run = conform_command(url, "--format", "json")
    assert_clean(run)
    assert run.status == 1
    checks = run.checks()
    # Go's promhttp writes a valid exposition; the rest of the API is not there.
    for check_id in ("metrics.exposition.parses", "metrics.exposition.histogram-cumulative",
                     "metrics.exposition.help-type", "metrics.gzip"):  # fmt: skip
        assert checks[check_id]["outcome"] == "pass", checks[check_id]
    assert checks["spec.get-ping.status"]["outcome"] == "fail"
    assert checks["influxd.metrics.families"]["outcome"] == "skip"


def test_answers_of_the_wrong_shape_are_failures_not_crashes() -> None:
    with hostile_server() as url:
        run = conform_command(url, "--format", "json")
    assert_clean(run)
    assert run.status == 1
    failed = run.ids("fail")
    assert {
        "spec.get-health.body",
        "errors.json-body",
        "metrics.gzip",
        "http.head-no-body",
    } <= failed
    assert {"spec.get-ping.status", "spec.get-ready.body"} <= failed


def test_junit_reports_failures_and_skips_with_their_evidence() -> None:
    with web_page_server() as url:
        as_json = conform_command(url, "--format", "json")
        run = conform_command(url, "--format", "junit")
    assert run.status == as_json.status == 1
    [suite] = ET.fromstring(run.stdout).findall("testsuite")
    cases = {case.get("name", "").split(" ")[0]: case for case in suite.findall("testcase")}
    assert set(cases) == set(as_json.checks())

    def having(element: str) -> set[str]:
        return {name for name, case in cases.items() if case.find(element) is not None}

    checks = as_json.checks()
    not_run = as_json.ids("not-run")
    must_not_run = {i for i in not_run if checks[i]["level"] == "MUST"}
    assert having("failure") == as_json.ids("fail")
    # A MUST check that did not run is an error: it is what an INCOMPLETE run lacks.
    assert having("error") == must_not_run
    assert having("skipped") == as_json.ids("skip") | (not_run - must_not_run)
    assert suite.get("failures") == str(len(as_json.ids("fail")))
    assert suite.get("errors") == str(len(must_not_run))
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["conformance"] == "NOT CONFORMANT" and properties["exit_status"] == "1"
    failure = cases["spec.get-ping.status"].find("failure")
    assert failure is not None and failure.get("type") == "MUST"
    assert "502" in (failure.get("message") or "")
    assert "< HTTP/1.1 502" in (failure.text or "")
    skipped = cases["influxd.metrics.families"].find("skipped")
    assert skipped is not None and "does not claim to be influxd" in (skipped.get("message") or "")
