"""`influx-metrics conform` through a proxy that breaks one thing at a time: the check
that encodes the broken rule fails, with evidence, and no other check does."""

from __future__ import annotations

import pytest

from tests.support.conform_cli import conform
from tests.support.conform_defects import DEFECTS, Defect, defect_proxy
from tools.live import LiveServer

READ_METHODS = {"GET", "HEAD"}
SPEC_PATHS = {"/metrics", "/health", "/ready", "/ping"}


@pytest.mark.parametrize("defect", DEFECTS, ids=[defect.name for defect in DEFECTS])
def test_one_defect_fails_exactly_its_check(server: LiveServer, defect: Defect) -> None:
    with defect_proxy(server.url, defect) as proxy:
        run = conform(proxy.url)
    assert run.ids("fail") == defect.breaks, run.stdout
    for check_id in defect.breaks:
        check = run.checks()[check_id]
        assert check["problems"] and check["reason"]
        responses = [e["response"] for e in check["evidence"] if e["response"] is not None]
        assert responses, check
        assert check["reference"]
    must_broken = any(run.checks()[i]["level"] == "MUST" for i in defect.breaks)
    assert run.status == (1 if must_broken else 0), run.stdout


def test_strict_makes_a_should_failure_fail_the_run(server: LiveServer) -> None:
    [missing_version] = [d for d in DEFECTS if d.name == "missing version header"]
    with defect_proxy(server.url, missing_version) as proxy:
        lenient = conform(proxy.url)
        strict = conform(proxy.url, "--strict")
    assert lenient.ids("fail") == strict.ids("fail") == {"influxd.identity-headers"}
    assert lenient.status == 0 and "1 SHOULD" in lenient.document()["verdict"]
    assert strict.status == 1 and strict.document()["verdict"].startswith("NOT CONFORMANT")


def test_sends_only_reads_and_empty_posts_and_few_requests(server: LiveServer) -> None:
    with defect_proxy(server.url, DEFECTS[0]) as proxy:
        run = conform(proxy.url)
    assert run.status == 0
    relayed = proxy.relayed
    assert len(relayed) == run.document()["requests"] <= 100
    for request in relayed:
        if request.method not in READ_METHODS:
            assert request.method == "POST" and request.body == b"", request
            assert request.target in SPEC_PATHS, request
            assert request.header("Content-Length") == "0", request


@pytest.mark.slow  # runs into its time limit by design
def test_overall_time_limit_stops_the_run_and_says_so(server: LiveServer) -> None:
    with defect_proxy(server.url, DEFECTS[0], delay=0.25) as proxy:
        run = conform(proxy.url, "--max-time", "2")
    document = run.document()
    assert run.status == 4
    assert document["verdict"].startswith("INCOMPLETE")
    assert document["elapsed_seconds"] < 4
    assert len(proxy.relayed) < 20
    unsent = [c for c in document["checks"] if c["reason"].startswith("stopped early:")]
    assert unsent and all(c["outcome"] == "not-run" for c in unsent)
    assert run.ids("fail") == set(), run.stdout
