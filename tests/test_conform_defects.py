"""`influx-metrics conform` against servers written from the spec and influxd's documents
(tests/support/conform_defects.py), each breaking one rule: the checks that encode the
broken rule fail, with evidence, and no other check does; the faithful one passes."""

from __future__ import annotations

import pytest

from impl.client.conform.gates import NEEDS_TOKEN, TOKEN_REFUSED
from impl.client.conform.runner import GONE
from tests.support.conform_cli import assert_clean, conform
from tests.support.conform_defects import DEFECTS, FAITHFUL, Defect, influxd_server

READ_METHODS = {"GET", "HEAD"}
SPEC_PATHS = {"/metrics", "/health", "/ready", "/ping"}
TOKEN = "defect-server-token"
# The faithful server, as influxd, offers no OpenMetrics: those checks have nothing to judge.
NOT_OFFERED = {"metrics.openmetrics", "metrics.openmetrics.exemplars"}


def test_there_are_enough_single_defects_each_named_once() -> None:
    defects = [defect for defect in DEFECTS if defect is not FAITHFUL]
    assert len(defects) >= 15
    assert len({defect.name for defect in defects}) == len(defects)
    assert all(defect.breaks for defect in defects)
    must_level = {"MUST"}
    with influxd_server() as server:
        levels = {c["id"]: c["level"] for c in conform(server.url).document()["checks"]}
    broken = set().union(*(defect.breaks for defect in defects))
    assert broken <= set(levels)
    assert len([i for i in broken if levels[i] in must_level]) >= 15


def test_the_faithful_server_is_conformant() -> None:
    with influxd_server() as server:
        run = conform(server.url)
    assert_clean(run)
    document = run.document()
    assert run.status == 0, run.stdout
    assert document["conformance"] == "CONFORMANT" and document["not_run"] == []
    assert run.ids("fail") == set() and run.ids("not-run") == set(), run.stdout
    assert run.ids("skip") == NOT_OFFERED


@pytest.mark.parametrize("defect", DEFECTS[1:], ids=[defect.name for defect in DEFECTS[1:]])
def test_one_defect_fails_exactly_its_checks(defect: Defect) -> None:
    with influxd_server(defect) as server:
        run = conform(server.url)
    assert_clean(run)
    assert run.ids("fail") == defect.breaks, run.stdout
    checks = run.checks()
    for check_id in defect.breaks:
        check = checks[check_id]
        assert check["problems"] and check["reason"] and check["reference"]
        assert any(e["response"] is not None for e in check["evidence"]), check
    must_broken = any(checks[i]["level"] == "MUST" for i in defect.breaks)
    # A SHOULD failure alone leaves the run conformant, unless --strict.
    assert run.status == (1 if must_broken else 0), run.stdout
    assert run.document()["conformance"] == ("NOT CONFORMANT" if must_broken else "CONFORMANT")


def test_strict_makes_a_should_failure_fail_the_run() -> None:
    [missing_version] = [d for d in DEFECTS if d.name == "no X-Influxdb-Version"]
    with influxd_server(missing_version) as server:
        lenient = conform(server.url)
        strict = conform(server.url, "--strict")
    assert lenient.ids("fail") == strict.ids("fail") == {"influxd.identity-headers"}
    assert lenient.status == 0 and "1 SHOULD" in lenient.document()["verdict"]
    assert strict.status == 1 and strict.document()["verdict"].startswith("NOT CONFORMANT")


def test_sends_only_reads_and_empty_posts_and_few_requests() -> None:
    with influxd_server() as server:
        run = conform(server.url)
    assert run.status == 0
    assert len(server.received) == run.document()["requests"] <= 100
    for request in server.received:
        if request.method not in READ_METHODS:
            assert request.method == "POST" and request.body == b"", request
            assert request.path in SPEC_PATHS, request
            assert request.header("Content-Length") == "0", request


def test_without_the_token_everything_is_incomplete() -> None:
    """A server that answers 401 to everything: nothing fails, little is judged."""
    with influxd_server(token=TOKEN) as server:
        run = conform(server.url)
        refused = conform(server.url, "--token", "not-the-token")
        allowed = conform(server.url, "--allow-incomplete")
        right = conform(server.url, "--token", TOKEN)
    assert_clean(run)
    document = run.document()
    assert run.status == 4 and run.ids("fail") == set(), run.stdout
    assert document["conformance"] == "INCOMPLETE"
    assert document["verdict"].startswith("INCOMPLETE: ") and NEEDS_TOKEN in document["verdict"]
    not_run = {entry["id"] for entry in document["not_run"]}
    assert {"spec.get-health.body", "metrics.exposition.parses", "spec.unknown-path"} <= not_run
    assert {run.checks()[i]["reason"] for i in not_run} == {NEEDS_TOKEN}
    assert run.checks()["spec.get-ping.status"]["outcome"] == "pass"  # 401 is declared
    assert refused.status == 4 and TOKEN_REFUSED in refused.document()["verdict"]
    assert allowed.status == 0 and allowed.document()["conformance"] == "INCOMPLETE"
    assert "allowed by --allow-incomplete" in allowed.document()["verdict"]
    assert right.status == 0 and right.document()["conformance"] == "CONFORMANT", right.stdout


def test_a_server_that_goes_away_half_way_is_incomplete() -> None:
    with influxd_server(leave_after=10) as server:
        run = conform(server.url)
    assert_clean(run)
    document = run.document()
    assert run.status == 4, run.stdout
    assert document["conformance"] == "INCOMPLETE"
    assert GONE in document["verdict"] and "connection refused" in document["verdict"]
    assert document["requests"] == 11  # the ten answered, and the one that found no server
    assert run.ids("fail") == set(), run.stdout


def test_a_failure_outweighs_what_did_not_run() -> None:
    [broken] = [d for d in DEFECTS if d.name == "500 for a malformed Zap-Trace-Span"]
    with influxd_server(broken, token=TOKEN) as server:
        run = conform(server.url)
    # The 401s hide the bodies, but the trace header still turned a 401 into a 500.
    assert run.status == 1 and run.document()["conformance"] == "NOT CONFORMANT", run.stdout
    assert "did not run" in run.document()["verdict"]


def test_only_and_skip_choose_checks_by_id_glob_and_level() -> None:
    [broken] = [d for d in DEFECTS if d.name == "histogram buckets not cumulative"]
    with influxd_server(broken) as server:
        musts = conform(server.url, "--only", "MUST")
        metrics = conform(server.url, "--only", "metrics.exposition.*", "--skip", "should")
        without = conform(server.url, "--skip", "metrics.exposition.histogram-*")
    assert {c["level"] for c in musts.document()["checks"]} == {"MUST"}
    assert musts.status == 1
    assert set(metrics.checks()) == {
        "metrics.exposition.parses",
        "metrics.exposition.names",
        "metrics.exposition.counter-total",
        "metrics.exposition.histogram-cumulative",
        "metrics.exposition.histogram-inf",
        "metrics.exposition.histogram-count",
    }
    assert without.status == 0 and "histogram" not in " ".join(without.checks())
    assert "3 check(s) not selected" in without.document()["verdict"]
    assert len(without.document()["deselected"]) == 3


@pytest.mark.slow  # runs into its time limit by design
def test_the_overall_time_limit_stops_the_run_and_says_so() -> None:
    with influxd_server(delay=0.25) as server:
        run = conform(server.url, "--max-time", "2")
    document = run.document()
    assert run.status == 4, run.stdout
    assert document["conformance"] == "INCOMPLETE"
    assert "stopped early" in document["verdict"]
    assert len(server.received) < 20  # of about 50 planned
    unsent = [c for c in document["checks"] if c["reason"].startswith("stopped early:")]
    assert unsent and all(c["outcome"] == "not-run" for c in unsent)
    assert run.ids("fail") == set(), run.stdout


def test_a_run_that_stopped_early_is_incomplete_whatever_was_chosen() -> None:
    """Checks over every answer would pass on what came before the stop."""
    with influxd_server(leave_after=10) as server:
        run = conform(server.url, "--only", "http.head-no-body", "--only", "errors.*")
    assert run.status == 4 and run.document()["conformance"] == "INCOMPLETE", run.stdout
    assert GONE in run.document()["verdict"]
