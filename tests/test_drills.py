"""Failure drills (impl/server/drills.py, impl/http/drills.py): the operator's file makes a
running service fail as influxd fails, and says so, without a restart; InfluxDB's own
client reads the failures."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException
from influxdb_client.service.metrics_service import MetricsService
from urllib3.exceptions import ReadTimeoutError

from impl.client.conform import Conformance, Outcome, run_conform
from impl.http.drills import DRILL_HEADER, NO_DRILL, Drill
from impl.server.drills import RECHECK_SECONDS, DrillError, DrillFile, parse_drill
from tests.conftest import MakeClient, StartServer
from tests.support.scaleout import only_worker, start_workers, wait_for, worker_pids
from tools.live import LiveServer
from tools.metrics_text import families

HEADER = DRILL_HEADER.decode()
EVERYTHING = {
    "health": {"check": "storage", "message": "disk full (drill)"},
    "ready": True,
    "metrics": "unavailable",
}


def write_drill(path: Path, document: object) -> None:
    """As an operator would: a whole new file renamed into place."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(json.dumps(document) if not isinstance(document, str) else document)
    os.replace(temporary, path)


def drill_seen(drills: DrillFile) -> Drill:
    time.sleep(RECHECK_SECONDS + 0.05)  # the file is looked at again after this long
    return drills.current()


# --- the document -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, NO_DRILL),
        ("", NO_DRILL),
        ({"health": True}, Drill("drill", "failure drill")),
        ({"health": {"check": "storage"}}, Drill("storage", "failure drill")),
        ({"ready": True}, Drill(ready_fails=True)),
        ({"metrics": "unavailable"}, Drill(metrics_unavailable=True)),
        ({"metrics": {"delay_seconds": 2.5}}, Drill(metrics_delay=2.5)),
        ({"health": False, "ready": False, "metrics": False}, NO_DRILL),
    ],
)
def test_a_drill_document_says_what_fails(document: object, expected: Drill) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    assert parse_drill(text) == expected


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"ping": true}', "unknown key 'ping'"),
        ('{"ready": "yes"}', '"ready" must be true or false'),
        ('{"health": {"check": ""}}', "health.check must be text"),
        ('{"health": {"check": "' + "x" * 300 + '"}}', "health.check must be text"),
        ('{"health": {"name": "x"}}', '"health" must be'),
        ('{"metrics": "slow"}', '"metrics" must be'),
        ('{"metrics": {"delay_seconds": 0}}', "above 0"),
        ('{"metrics": {"delay_seconds": 601}}', "at most 600"),
        ('{"metrics": {"delay_seconds": true}}', '"metrics" must be'),
        ('{"metrics": {"delay_seconds": 1, "x": 1}}', '"metrics" must be'),
    ],
)
def test_a_document_that_cannot_be_used_is_refused_with_a_reason(text: str, said: str) -> None:
    with pytest.raises(DrillError, match=None) as refused:
        parse_drill(text)
    assert said in str(refused.value)


# --- the file -------------------------------------------------------------------------


def test_no_file_configured_is_no_drill_ever(tmp_path: Path) -> None:
    assert DrillFile(None).current() == NO_DRILL


def test_the_file_starts_changes_and_ends_drills_and_each_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "drill.json"
    drills = DrillFile(path)
    caplog.set_level(logging.WARNING, logger="impl.server.drills")
    assert drills.current() == NO_DRILL  # absent: no drill
    write_drill(path, {"ready": True})
    assert drill_seen(drills) == Drill(ready_fails=True)
    write_drill(path, {"metrics": "unavailable", "ready": True})
    assert drill_seen(drills).endpoints == ("ready", "metrics")
    path.unlink()
    assert drill_seen(drills) == NO_DRILL
    said = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert said == [
        ("WARNING", "drill started"),
        ("WARNING", "drill changed"),
        ("WARNING", "drill ended"),
    ]


@pytest.mark.parametrize("shape", ["garbage", "fifo", "directory", "huge"])
def test_a_file_that_cannot_be_used_is_no_drill_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, shape: str
) -> None:
    path = tmp_path / "drill.json"
    drills = DrillFile(path)
    write_drill(path, {"health": True})
    assert drill_seen(drills).health_check == "drill"
    path.unlink()
    if shape == "garbage":
        path.write_text('{"ready": tru')
    elif shape == "fifo":
        os.mkfifo(path)  # opened without waiting for a writer
    elif shape == "directory":
        path.mkdir()
    else:
        path.write_text('{"health": true, "x": "' + "x" * 70_000 + '"}')
    caplog.set_level(logging.WARNING, logger="impl.server.drills")
    caplog.clear()
    for _ in range(3):
        assert drill_seen(drills) == NO_DRILL
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == ["drill file not used"]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == ["drill ended"]


# --- the answers, in-process ------------------------------------------------------------


def drilled_client(make_client: MakeClient, tmp_path: Path, document: object) -> Any:
    path = tmp_path / "drill.json"
    write_drill(path, document)
    return make_client(drill_file=path)


def test_every_endpoint_fails_as_asked_and_every_answer_says_so(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = drilled_client(make_client, tmp_path, EVERYTHING)
    for target in ("/health", "/ready", "/metrics", "/ping", "/ready?x=1", "/metrics?name[]=x"):
        response = client.get(target)
        assert response.headers[HEADER] == "health,ready,metrics", target
    health = client.get("/health")
    assert health.status_code == 503
    failing = [c for c in health.json()["checks"] if c["status"] == "fail"]
    assert failing == [{"name": "storage", "status": "fail", "message": "disk full (drill)"}]
    assert health.json()["message"] == "failing checks: storage"
    for target in ("/ready", "/ready?x=1"):  # the fast path and the full path
        ready = client.get(target)
        assert ready.status_code == 503
        assert ready.json() == {"code": "unavailable", "message": "failure drill: not ready"}
        assert ready.headers["X-Platform-Error-Code"] == "unavailable"
    for target in ("/metrics", "/metrics?name[]=http_api_requests_total"):
        scrape = client.get(target)
        assert scrape.status_code == 503
        assert scrape.json()["code"] == "unavailable"
    assert client.get("/ping").status_code == 204  # influxd's ping never fails


def test_without_a_drill_file_nothing_changes(make_client: MakeClient) -> None:
    client = make_client()
    response = client.get("/metrics")
    assert response.status_code == 200 and HEADER not in response.headers
    assert "influxdb_sysinfo_drill_active" not in response.text


def test_the_gauge_shows_which_endpoints_fail_on_purpose(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = drilled_client(
        make_client, tmp_path, {"health": True, "metrics": {"delay_seconds": 0.2}}
    )
    gauge = families(client.get("/metrics").text)["influxdb_sysinfo_drill_active"]
    active = {sample.labels["endpoint"]: sample.value for sample in gauge.samples}
    assert active == {"health": 1.0, "ready": 0.0, "metrics": 1.0}


# --- live, with InfluxDB's client ---------------------------------------------------------


def official(live: LiveServer) -> InfluxDBClient:
    return InfluxDBClient(url=live.url, token=None, timeout=10_000)


def test_influxdb_client_reads_each_failure_and_the_end_of_the_drill(
    start_server: StartServer, tmp_path: Path
) -> None:
    path = tmp_path / "drill.json"
    live = start_server("--drill-file", str(path))
    with official(live) as client:
        assert client.health().status == "pass"
        write_drill(path, EVERYTHING)
        wait_for(lambda: client.health().status == "fail", "the drill to start")
        health = client.health()  # the client turns a 503 into a failing HealthCheck
        assert "storage" in health.message and "disk full (drill)" in health.message
        with pytest.raises(ApiException) as not_ready:
            client.ready()
        assert not_ready.value.status == 503
        with pytest.raises(ApiException) as no_metrics:
            MetricsService(client.api_client).get_metrics()
        assert no_metrics.value.status == 503
        assert no_metrics.value.headers["X-Influxdb-Sysinfo-Drill"] == "health,ready,metrics"
        assert client.ping() is True
        path.unlink()  # the drill ends without a restart
        wait_for(lambda: client.health().status == "pass", "the drill to end")
        assert client.ready().status == "ready"
        assert "influxdb_info" in MetricsService(client.api_client).get_metrics()
    log = live.log()
    assert 'msg="drill started"' in log and 'msg="drill ended"' in log
    assert "Traceback" not in log


def test_a_slow_metrics_drill_is_slow_for_metrics_only(
    start_server: StartServer, tmp_path: Path
) -> None:
    path = tmp_path / "drill.json"
    write_drill(path, {"metrics": {"delay_seconds": 3}})
    live = start_server("--drill-file", str(path))
    with official(live) as client:
        client.api_client.configuration.timeout = 1_000  # ms: shorter than the delay
        with pytest.raises(ReadTimeoutError):  # the client gives up before the answer
            MetricsService(client.api_client).get_metrics(_request_timeout=1)
        # Meanwhile the other endpoints answer at once (nothing waits on the event loop).
        assert client.ping() is True
        assert client.health().status == "pass"
    scrape = requests.get(live.url + "/metrics", timeout=30)
    assert scrape.status_code == 200 and scrape.headers[HEADER] == "metrics"
    assert scrape.elapsed.total_seconds() >= 3


@pytest.mark.slow
def test_every_worker_obeys_the_drill(start_server: StartServer, tmp_path: Path) -> None:
    path = tmp_path / "drill.json"
    live = start_workers(start_server, tmp_path / "multiproc", 2, "--drill-file", str(path))
    write_drill(path, {"ready": True})
    for pid in worker_pids(live):
        with only_worker(live, pid):
            wait_for(
                lambda: requests.get(live.url + "/ready", timeout=10).status_code == 503,
                f"worker {pid} to see the drill",
            )
    path.unlink()
    for pid in worker_pids(live):
        with only_worker(live, pid):
            wait_for(
                lambda: requests.get(live.url + "/ready", timeout=10).status_code == 200,
                f"worker {pid} to see the drill end",
            )


@pytest.mark.parametrize(
    "document",
    [{"metrics": "unavailable"}, {"ready": True}, {"health": True}],
    ids=["metrics", "ready", "health"],
)
def test_conform_never_passes_a_server_in_a_drill(
    start_server: StartServer, tmp_path: Path, document: dict[str, object]
) -> None:
    """What a drill withholds could not be tested: INCOMPLETE (exit 4), never CONFORMANT;
    a /metrics 503, which the spec covers only by `default`, is said as unavailable."""
    path = tmp_path / "drill.json"
    write_drill(path, document)
    live = start_server("--drill-file", str(path))
    report = run_conform(live.url)
    assert report.conformance is Conformance.INCOMPLETE and report.exit_status == 4
    assert report.with_outcome(Outcome.FAIL) == []
    if "metrics" in document:
        status = [r for r in report.missing if r.check.id == "spec.get-metrics.status"]
        assert status and "unavailable (503 unavailable)" in status[0].verdict.reason
    path.unlink()
    wait_for(
        lambda: run_conform(live.url).conformance is Conformance.CONFORMANT, "the drill to end"
    )
