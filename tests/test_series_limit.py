"""The series limit of the HTTP metrics: a hard bound whatever clients send, nothing lost.

In-process for the rule itself; live processes (one, and `--workers 2`) against the
adversary of tests/support/adversary.py, which enumerates every label value a client
can choose or provoke. The single process answers one connection in order, so the
test knows which label sets came first and were admitted, and checks every count.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry

from impl.client.rawhttp import RawClient
from impl.errors import STATUS_OF_CODE
from impl.metrics.http_metrics import (
    DEFAULT_MAX_SERIES,
    FALLBACK_PATH,
    OVERFLOW,
    UNROUTED,
    HttpMetrics,
)
from impl.metrics.user_agents import BROWSER_MARKERS, KNOWN_PRODUCTS, agent_name
from impl.server.config import Config
from tests.conftest import MakeClient, StartServer
from tools.adversary import SPEC_PATHS, Shot, all_shots
from tools.metrics_text import families

LabelSet = tuple[str, str, str, str, str]  # method, path, response_code, status, user_agent
# The label sets of overflow: one per status class the service answers with.
STATUS_CLASSES = 4
SMALL_LIMIT = 40


def _by_label_set(body: str, family_name: str, sample_suffix: str) -> dict[LabelSet, float]:
    """A family's samples ending in `sample_suffix` by label set (handler left out:
    always "platform")."""
    names = ("method", "path", "response_code", "status", "user_agent")
    family = families(body)[family_name]
    return {
        tuple(s.labels[name] for name in names): s.value  # type: ignore[misc]
        for s in family.samples
        if s.name.endswith(sample_suffix)
    }


def series_counts(body: str) -> dict[LabelSet, float]:
    return _by_label_set(body, "http_api_requests", "_total")


def histogram_counts(body: str) -> dict[LabelSet, float]:
    return _by_label_set(body, "http_api_request_duration_seconds", "_count")


def overflow_total(body: str) -> float:
    return families(body)["http_api_overflow_requests"].samples[0].value


def test_requests_beyond_the_limit_are_folded_with_their_status_class() -> None:
    metrics = HttpMetrics(CollectorRegistry(), max_series=2)
    agents = ["curl/8", "Prometheus/2", "Telegraf/1"]
    for agent in agents:
        for status in (200, 503):
            metrics.record(method="GET", path="/ping", status=status, user_agent=agent, seconds=0)
    counts = {
        tuple(s.labels.values()): s.value
        for s in list(metrics.requests.collect())[0].samples
        if s.name.endswith("_total")
    }
    overflow = ("platform", OVERFLOW, OVERFLOW, OVERFLOW)
    assert counts == {
        ("platform", "GET", "/ping", "200", "2XX", "curl"): 1,
        ("platform", "GET", "/ping", "503", "5XX", "curl"): 1,
        (*overflow, "2XX", OVERFLOW): 2,
        (*overflow, "5XX", OVERFLOW): 2,
    }
    assert list(metrics.overflow.collect())[0].samples[0].value == 4
    # An admitted label set keeps its series after the limit is reached.
    metrics.record(method="GET", path="/ping", status=200, user_agent="curl/8", seconds=0)
    curl_ok = [
        s.value
        for s in list(metrics.requests.collect())[0].samples
        if s.name.endswith("_total") and s.labels["user_agent"] == "curl"
    ]
    assert sorted(curl_ok) == [1, 2]


def test_default_limit_is_the_configured_default() -> None:
    assert Config().max_http_series == DEFAULT_MAX_SERIES


def test_documented_worst_case_is_the_product_of_the_label_sets() -> None:
    """README's bound: what the label rules allow, computed from the same tables."""
    agents = {*KNOWN_PRODUCTS.values(), *(name for _, name in BROWSER_MARKERS), "unknown", "other"}
    statuses = {*STATUS_OF_CODE.values(), 200, 204, 307, 406, 408, 431}
    routed = 2 * len(SPEC_PATHS) * len(statuses) * len(agents)  # GET and HEAD reach operations
    unrouted = (len(SPEC_PATHS) + 2 + 1) * len(statuses)  # + the spec documents + fallback
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"{routed:,} routed and {unrouted:,} unrouted" in readme
    assert f"{(routed + unrouted) * 15:,} series" in readme
    assert f"{DEFAULT_MAX_SERIES} + {STATUS_CLASSES}" in readme


@pytest.mark.parametrize("token", [None, "adversary-t0ken"], ids=["open", "token-protected"])
def test_in_process_adversary_stays_within_the_limit(
    make_client: MakeClient, token: str | None
) -> None:
    tokens = (token,) if token else ()
    client = make_client(max_http_series=SMALL_LIMIT, tokens=tokens)
    sent = 0
    for shot in all_shots(token)[::7]:  # a slice of the adversary, every kind of shot in it
        client.request(shot.method, shot.target, headers=dict(shot.headers))
        sent += 1
    auth = {"Authorization": f"Token {token}"} if token else {}
    body = client.get("/metrics", headers=auth).text
    counts = series_counts(body)
    own = [labels for labels in counts if labels[0] != OVERFLOW]
    assert len(own) == SMALL_LIMIT
    assert len(counts) <= SMALL_LIMIT + STATUS_CLASSES
    folded = sum(value for labels, value in counts.items() if labels[0] == OVERFLOW)
    assert folded > 0 and overflow_total(body) == folded
    assert sum(counts.values()) == sent


# --- live: the whole adversary -------------------------------------------------------


def expected_labels(shot: Shot, status: int) -> LabelSet:
    """The label set the service's rules give `shot`, answered with `status`."""
    path = shot.target.split("?", 1)[0]
    template = path if path in (*SPEC_PATHS, "/openapi.json", "/openapi.yaml") else FALLBACK_PATH
    # Operations are reached by GET and HEAD on the spec's paths, unless refused first.
    routed = path in SPEC_PATHS and shot.method in ("GET", "HEAD") and status not in (413, 431)
    agent = dict(shot.headers).get("User-Agent")
    method, name = (shot.method, agent_name(agent)) if routed else (UNROUTED, UNROUTED)
    return method, template, str(status), f"{status // 100}XX", name


def fold(sequence: list[LabelSet], limit: int) -> Counter[LabelSet]:
    """What the service must count for `sequence`: the first `limit` label sets as they
    are, every later new one under the overflow labels of its status class."""
    admitted: set[LabelSet] = set()
    counts: Counter[LabelSet] = Counter()
    for labels in sequence:
        if labels in admitted or len(admitted) < limit:
            admitted.add(labels)
            counts[labels] += 1
        else:
            counts[(OVERFLOW, OVERFLOW, OVERFLOW, labels[3], OVERFLOW)] += 1
    return counts


def run_adversary(port: int) -> list[LabelSet]:
    sequence = []
    with RawClient(port) as client:
        for shot in all_shots():
            response = client.request(shot.method, shot.target, shot.headers)
            sequence.append(expected_labels(shot, response.status))
    return sequence


@pytest.mark.slow  # 4,400 requests, a few hundred of them scrapes
def test_adversary_gets_exactly_the_limit_and_every_request_is_counted(
    start_server: StartServer,
) -> None:
    live = start_server()  # the default limit
    sequence = run_adversary(live.port)
    body = requests.get(live.url + "/metrics", timeout=30).text
    # The start-up check's ping came first (python-requests), then the adversary.
    warm_up: LabelSet = ("GET", "/ping", "204", "2XX", "python-requests")
    expected = fold([warm_up, *sequence], DEFAULT_MAX_SERIES)
    counts = series_counts(body)
    assert len(set(sequence)) > DEFAULT_MAX_SERIES * 4  # the adversary aimed far beyond
    assert counts == expected  # every request counted once, under the label set it must
    assert histogram_counts(body) == expected  # the histogram agrees, series by series
    assert len([labels for labels in counts if labels[0] != OVERFLOW]) == DEFAULT_MAX_SERIES
    assert len(counts) <= DEFAULT_MAX_SERIES + STATUS_CLASSES
    folded = sum(value for labels, value in counts.items() if labels[0] == OVERFLOW)
    assert (
        overflow_total(body)
        == folded
        == len(sequence)
        + 1
        - sum(value for labels, value in counts.items() if labels[0] != OVERFLOW)
    )


@pytest.mark.slow  # two workers, the adversary, multiprocess scrapes
def test_limit_holds_for_the_instance_with_two_workers(start_server: StartServer) -> None:
    live = start_server("--workers", "2", "--max-http-series", str(SMALL_LIMIT))
    sequence = run_adversary(live.port)
    body = requests.get(live.url + "/metrics", timeout=30).text
    counts = series_counts(body)
    own = {labels for labels in counts if labels[0] != OVERFLOW}
    # Both workers took label sets, yet together no more than the limit.
    assert len(own) == SMALL_LIMIT
    assert own <= {*sequence, ("GET", "/ping", "204", "2XX", "python-requests")}
    assert len(counts) <= SMALL_LIMIT + STATUS_CLASSES
    folded = sum(value for labels, value in counts.items() if labels[0] == OVERFLOW)
    assert overflow_total(body) == folded > 0
    assert histogram_counts(body) == counts
    # Every request counted once, whichever worker answered it, the start-up check's too.
    assert sum(counts.values()) == len(sequence) + 1


@pytest.mark.slow  # two workers recycled every few requests
def test_limit_holds_while_workers_are_recycled(start_server: StartServer) -> None:
    """A recycled worker's label sets move to the archive: they still take their place."""
    limit = 8
    live = start_server("--workers", "2", "--max-requests", "7", "--max-http-series", str(limit))
    agents = sorted(KNOWN_PRODUCTS.values())[:30]  # 30 label sets, one per agent name
    for agent in agents * 2:  # 60 requests: the workers are replaced several times
        response = requests.get(live.url + "/ping", headers={"User-Agent": agent}, timeout=30)
        assert response.status_code == 204
    body = requests.get(live.url + "/metrics", timeout=30).text
    counts = series_counts(body)
    own = {labels for labels in counts if labels[0] != OVERFLOW}
    assert len(own) == limit
    assert sum(counts.values()) == len(agents) * 2 + 1
