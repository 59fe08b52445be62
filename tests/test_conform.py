"""`influx-metrics conform` against this service, as its users run it: every check
passes (or, without a token the server wants, skips saying so), in every mode; the
JSON, JUnit and table outputs are what programs and people read."""

from __future__ import annotations

import os
import pty
import subprocess
import xml.etree.ElementTree as ET

import pytest

from impl.client.conform.gates import METRICS_DISABLED, NEEDS_TOKEN, TOKEN_REFUSED
from tests.conftest import StartServer
from tests.support.conform_cli import TOOL, assert_clean, conform, conform_command
from tools.live import LiveServer

pytestmark = pytest.mark.slow  # a live service of its own for nearly every run

TOKEN = "conform-test-token-7Hq2"
ANSI = "\033["


def test_this_service_passes_every_check(server: LiveServer) -> None:
    run = conform_command(server.url, "--format", "json")
    assert_clean(run)
    document = run.document()
    assert run.status == 0, run.stdout
    assert run.ids("fail") == set() and run.ids("skip") == set(), run.stdout
    assert document["verdict"] == "CONFORMANT: every MUST check passes"
    assert document["conformance"] == "CONFORMANT" and document["not_run"] == []
    assert document["summary"] == {
        "pass": len(document["checks"]),
        "fail": 0,
        "skip": 0,
        "not-run": 0,
    }
    print(
        f"conform, one process: {document['requests']} requests in {document['elapsed_seconds']} s"
    )


def test_every_check_has_level_reference_and_evidence(server: LiveServer) -> None:
    checks = conform(server.url).document()["checks"]
    ids = [check["id"] for check in checks]
    assert len(ids) == len(set(ids))
    for check in checks:
        assert check["level"] in ("MUST", "SHOULD", "MAY"), check
        assert check["reference"] and check["title"], check
        assert check["evidence"], check
        for exchange in check["evidence"]:
            assert exchange["request"]["method"] and exchange["request"]["target"].startswith("/")
            assert exchange["response"]["status"] >= 200
    spec_checks = [c for c in checks if c["id"].startswith("spec.get-")]
    assert all(c["reference"].startswith("openapi.yaml#/paths/") for c in spec_checks)


def test_several_workers_pass_every_check(start_server: StartServer) -> None:
    live = start_server("--workers", "2")
    run = conform_command(live.url, "--format", "json")
    assert_clean(run)
    assert run.status == 0 and run.ids("fail") == set(), run.stdout
    # prometheus_client's multiprocess mode keeps no exemplars.
    assert run.ids("skip") == {"metrics.openmetrics.exemplars"}, run.stdout
    document = run.document()
    print(
        f"conform, two workers: {document['requests']} requests in {document['elapsed_seconds']} s"
    )


def test_token_mode_without_the_token_is_incomplete(start_server: StartServer) -> None:
    live = start_server(env={"INFLUXDB_SYSINFO_TOKENS": TOKEN})
    run = conform(live.url)
    assert_clean(run)
    document = run.document()
    assert run.status == 4 and run.ids("fail") == set(), run.stdout
    assert document["conformance"] == "INCOMPLETE" and document["verdict"].startswith("INCOMPLETE")
    checks = run.checks()
    not_run = run.ids("not-run")
    assert "metrics.exposition.parses" in not_run and "influxd.metrics.families" in not_run
    assert {checks[i]["reason"] for i in not_run} == {NEEDS_TOKEN}
    assert {c["id"] for c in document["not_run"]} == {
        i for i in not_run if checks[i]["level"] == "MUST"
    }
    assert run.ids("skip") == set()
    # The 401 itself is a declared answer, and an InfluxDB error: both are judged.
    status = checks["spec.get-metrics.status"]
    assert status["outcome"] == "pass" and status["evidence"][0]["response"]["status"] == 401
    assert checks["errors.json-body"]["outcome"] == "pass"
    assert checks["influxd.health"]["outcome"] == "pass"  # /health stays public
    assert NEEDS_TOKEN in " ".join(run.document()["notes"])


def protected_server(start_server: StartServer) -> LiveServer:
    """Token-protected mode with /health, /ready and /ping protected too."""
    live = start_server(
        "--protect-system-endpoints", env={"INFLUXDB_SYSINFO_TOKENS": TOKEN}, wait=False
    )
    live.wait_until_up(headers={"Authorization": f"Token {TOKEN}"})
    return live


def test_token_mode_with_the_token_passes_every_check(start_server: StartServer) -> None:
    live = protected_server(start_server)
    run = conform_command(live.url, "--format", "json", env={"INFLUX_TOKEN": TOKEN})
    assert_clean(run)
    assert run.status == 0, run.stdout
    assert run.ids("fail") == set() and run.ids("skip") == set(), run.stdout
    assert TOKEN not in run.stdout + run.stderr
    sent = run.checks()["spec.get-ping.status"]["evidence"][0]["request"]["headers"]
    assert ["Authorization", "Token ***"] in sent


def test_protected_system_endpoints_without_the_token_are_incomplete(
    start_server: StartServer,
) -> None:
    live = protected_server(start_server)
    run = conform(live.url)
    assert_clean(run)
    assert run.status == 4 and run.ids("fail") == set(), run.stdout
    assert run.checks()["influxd.health"]["reason"] == NEEDS_TOKEN
    assert run.checks()["spec.get-health.body"]["reason"] == NEEDS_TOKEN
    assert run.checks()["spec.get-ping.status"]["outcome"] == "pass"  # a declared 401
    allowed = conform(live.url, "--allow-incomplete")
    assert allowed.status == 0 and allowed.document()["conformance"] == "INCOMPLETE"


def test_a_refused_token_is_named_as_such(start_server: StartServer) -> None:
    live = start_server(env={"INFLUXDB_SYSINFO_TOKENS": TOKEN})
    run = conform(live.url, "--token", "not-the-token", "--strict")
    assert run.ids("fail") == set() and run.status == 4, run.stdout
    parses = run.checks()["metrics.exposition.parses"]
    assert parses["outcome"] == "not-run" and parses["reason"] == TOKEN_REFUSED


def test_metrics_disabled_leaves_the_exposition_unjudged(start_server: StartServer) -> None:
    live = start_server("--metrics-disabled")
    run = conform(live.url)
    assert run.status == 4 and run.ids("fail") == set(), run.stdout
    checks = run.checks()
    assert checks["metrics.exposition.parses"]["reason"] == METRICS_DISABLED
    assert checks["spec.get-metrics.body"]["outcome"] == "not-run"
    assert checks["spec.get-metrics.status"]["outcome"] == "pass"  # 403 is declared
    # What is left once the exposition is set aside on purpose passes.
    rest = conform(live.url, "--skip", "metrics.*", "--skip", "spec.get-metrics.*")
    assert rest.status == 0 and rest.document()["conformance"] == "CONFORMANT", rest.stdout


def test_junit_has_one_testcase_per_check(server: LiveServer) -> None:
    checks = conform(server.url).document()["checks"]
    run = conform_command(server.url, "--format", "junit")
    assert run.status == 0
    root = ET.fromstring(run.stdout)
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [f"{c['id']} [{c['level']}]" for c in checks]
    assert suite.get("tests") == str(len(checks)) and suite.get("failures") == "0"
    assert all(case.find("failure") is None and case.find("skipped") is None for case in cases)


def test_table_is_plain_text_when_not_a_terminal(server: LiveServer) -> None:
    run = conform_command(server.url)
    assert run.status == 0
    assert ANSI not in run.stdout
    lines = run.stdout.splitlines()
    assert lines[0] == f"influx-metrics conform {server.url}"
    rows = [line for line in lines if line.startswith(("pass ", "FAIL ", "skip "))]
    assert len(rows) == len(conform(server.url).document()["checks"])
    assert lines[-1] == "CONFORMANT: every MUST check passes"


def test_table_is_coloured_on_a_terminal_unless_no_color(server: LiveServer) -> None:
    def on_terminal(env: dict[str, str]) -> str:
        controller, terminal = pty.openpty()
        with subprocess.Popen(
            [str(TOOL), "conform", server.url], stdout=terminal, stderr=terminal, env=env
        ) as process:
            os.close(terminal)
            output = b""
            while True:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the terminal closed with the process
                    break
                if not chunk:
                    break
                output += chunk
            assert process.wait(60) == 0
        os.close(controller)
        return output.decode()

    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert ANSI + "32m" in on_terminal(environment)
    assert ANSI not in on_terminal({**environment, "NO_COLOR": "1"})


def test_help_names_formats_limits_and_exit_statuses() -> None:
    run = conform_command("--help")
    assert run.status == 0
    for text in ("{table,json,junit}", "--strict", "--max-time", "--timeout", "--token",
                 "--allow-incomplete", "--only", "--skip", "INCOMPLETE"):  # fmt: skip
        assert text in run.stdout
    assert "exit status" in run.stdout and "POST" in run.stdout


@pytest.mark.parametrize(
    "args",
    [["ftp://127.0.0.1:8086"], ["127.0.0.1:8086/x?y"], ["http://127.0.0.1:1", "--format", "xml"],
     ["http://127.0.0.1:1", "--max-time", "0"], ["http://127.0.0.1:1", "--token", "two words"],
     ["http://127.0.0.1:1", "--only", "spec.no-such-check"],
     ["http://127.0.0.1:1", "--skip", "x*"]],
)  # fmt: skip
def test_usage_errors_exit_2_with_one_line(args: list[str]) -> None:
    run = conform_command(*args)
    assert run.status == 2, run
    assert run.stdout == "" and "Traceback" not in run.stderr
    assert run.stderr.strip() and "influx-metrics" in run.stderr
