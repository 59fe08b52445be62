"""The series limit of the HTTP metrics: a hard bound whatever clients send, nothing lost,
and the well-known clients' series out of an attacker's reach.

In-process for the rule itself; live processes (one, and `--workers 2`) against the
adversary of tools/adversary.py, which enumerates every label value a client can choose
or provoke, and the squatting attack of tools/attack_squatting.py. The single process
answers one connection in order, so the test knows which label sets came first and were
admitted, and checks every count.
"""

from __future__ import annotations

import itertools
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
from impl.metrics.user_agents import BROWSER_MARKERS, KNOWN_PRODUCTS, RESERVED, agent_name
from impl.server.config import Config
from tests.conftest import MakeClient, StartServer
from tools.adversary import SPEC_PATHS, Shot, all_shots
from tools.attack_squatting import squat
from tools.metrics_text import families

LabelSet = tuple[str, str, str, str, str]  # method, path, response_code, status, user_agent
# The label sets of overflow: one per status class the service answers with.
STATUS_CLASSES = 4
SMALL_LIMIT = 40
# A well-known client's label sets beyond the limit: a GET of each of the four
# operations, each answered with its one success status.
PER_RESERVED_CLIENT = len(SPEC_PATHS)
RESERVED_LABEL_SETS = PER_RESERVED_CLIENT * len(RESERVED)
SUCCESS = {"/metrics": 200, "/health": 200, "/ready": 200, "/ping": 204}


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
    agents = ["curl/8", "python-requests/2", "Go-http-client/1.1"]
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


def is_reserved(labels: tuple[str, ...]) -> bool:
    """(method, path, response_code, status, user_agent): reserved for a well-known client."""
    method, _, _, status, agent = labels
    return method == "GET" and status == "2XX" and agent in RESERVED


def test_documented_worst_case_is_the_product_of_the_label_sets() -> None:
    """README's bounds: what the label rules allow, computed from the same tables."""
    agents = {*KNOWN_PRODUCTS.values(), *(name for _, name in BROWSER_MARKERS), "unknown", "other"}
    statuses = {*STATUS_OF_CODE.values(), 200, 204, 307, 406, 408, 431}
    routed = 2 * len(SPEC_PATHS) * len(statuses) * len(agents)  # GET and HEAD reach operations
    unrouted = (len(SPEC_PATHS) + 2 + 1) * len(statuses)  # + the spec documents + fallback
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"any of {len(agents)} user-agent names" in readme
    assert f"{routed:,} routed and {unrouted:,} unrouted" in readme
    assert f"{(routed + unrouted) * 15:,} series" in readme
    bound = DEFAULT_MAX_SERIES + RESERVED_LABEL_SETS + STATUS_CLASSES
    formula = f"{DEFAULT_MAX_SERIES} + {PER_RESERVED_CLIENT} × {len(RESERVED)} + {STATUS_CLASSES}"
    assert f"{formula} = {bound}" in readme
    assert f"{bound * 15:,} series" in readme
    assert all(f"`{name}`" in readme for name in RESERVED)


def test_well_known_clients_keep_their_series_whatever_came_before() -> None:
    """10,000 requests aimed at the limit (every agent name, the reserved ones spoofed
    too, with every method, path and status), then Prometheus and Telegraf: each is
    counted under its own label set, none under overflow."""
    metrics = HttpMetrics(CollectorRegistry(), max_series=DEFAULT_MAX_SERIES)
    headers = [f"{name}/6.6.6" for name in sorted(set(KNOWN_PRODUCTS.values()))] + ["x/1", None]
    failures = sorted({*STATUS_OF_CODE.values(), 406, 408, 431} - {200, 204})
    shots = [
        (agent, method, path, status)
        for agent in headers
        for path in SPEC_PATHS
        for method in ("GET", "HEAD")
        for status in [SUCCESS[path], *failures]
    ]
    for agent, method, path, status in itertools.islice(itertools.cycle(shots), 10_000):
        metrics.record(method=method, path=path, status=status, user_agent=agent, seconds=0.01)

    def counts() -> dict[tuple[str, ...], float]:
        family = list(metrics.requests.collect())[0]
        return {
            tuple(s.labels.values()): s.value for s in family.samples if s.name.endswith("_total")
        }

    before = counts()
    competing = [
        labels for labels in before if labels[1] != OVERFLOW and not is_reserved(labels[1:])
    ]
    assert len(competing) == DEFAULT_MAX_SERIES  # the attack took every place
    clients = [
        ("Prometheus/2.53.0", "/metrics", "Prometheus"),
        ("Telegraf/1.30.0 Go/1.22.1", "/metrics", "Telegraf"),
        ("Telegraf/1.30.0 Go/1.22.1", "/health", "Telegraf"),
        ("vm_promscrape", "/metrics", "vmagent"),
        ("kube-probe/1.30", "/ready", "kube-probe"),
        ("influxdb-client-go/2.14.0 (linux; amd64)", "/ping", "influxdb-client-go"),
    ]
    overflowed = list(metrics.overflow.collect())[0].samples[0].value
    for header, path, _ in clients:
        metrics.record(method="GET", path=path, status=SUCCESS[path], user_agent=header, seconds=0)
    after = counts()
    for _, path, name in clients:
        labels = ("platform", "GET", path, str(SUCCESS[path]), "2XX", name)
        assert after[labels] == before.get(labels, 0) + 1, name
    assert list(metrics.overflow.collect())[0].samples[0].value == overflowed
    reserved = [labels for labels in after if is_reserved(labels[1:])]
    assert len(reserved) == RESERVED_LABEL_SETS  # every reserved client spoofed, 4 each
    assert len(after) <= DEFAULT_MAX_SERIES + RESERVED_LABEL_SETS + STATUS_CLASSES


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
    competing = [labels for labels in counts if labels[0] != OVERFLOW and not is_reserved(labels)]
    assert len(competing) == SMALL_LIMIT
    assert len([labels for labels in counts if is_reserved(labels)]) <= RESERVED_LABEL_SETS
    assert len(counts) <= SMALL_LIMIT + RESERVED_LABEL_SETS + STATUS_CLASSES
    folded = sum(value for labels, value in counts.items() if labels[0] == OVERFLOW)
    assert folded > 0 and overflow_total(body) == folded
    assert sum(counts.values()) == sent


def test_squatting_without_a_token_leaves_token_holders_their_series(
    make_client: MakeClient,
) -> None:
    """Token mode: the attacker, without a token, fills the limit; a Prometheus with
    one is still counted under its own name."""
    token = "scraper-t0ken"
    client = make_client(max_http_series=SMALL_LIMIT, tokens=(token,))
    for shot in all_shots()[:1500]:
        client.request(shot.method, shot.target, headers=dict(shot.headers))
    auth = {"Authorization": f"Token {token}", "User-Agent": "influxdb-sysinfo/test"}
    before = series_counts(client.get("/metrics", headers=auth).text)
    assert len([labels for labels in before if labels[0] == OVERFLOW]) > 0
    prometheus = {**auth, "User-Agent": "Prometheus/2.53.0"}
    assert client.get("/metrics", headers=prometheus).status_code == 200
    after = series_counts(client.get("/metrics", headers=auth).text)
    own: LabelSet = ("GET", "/metrics", "200", "2XX", "Prometheus")
    assert after[own] == before.get(own, 0) + 1
    assert overflow_total_of(after) == overflow_total_of(before)


def overflow_total_of(counts: dict[LabelSet, float]) -> float:
    return sum(value for labels, value in counts.items() if labels[0] == OVERFLOW)


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
    """What the service must count for `sequence`: the reserved label sets and the first
    `limit` others as they are, every later new one under the overflow labels of its
    status class."""
    admitted: set[LabelSet] = set()
    counts: Counter[LabelSet] = Counter()
    for labels in sequence:
        if is_reserved(labels):
            counts[labels] += 1
        elif labels in admitted or len(admitted) < limit:
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
    competing = [labels for labels in counts if labels[0] != OVERFLOW and not is_reserved(labels)]
    assert len(competing) == DEFAULT_MAX_SERIES
    assert len([labels for labels in counts if is_reserved(labels)]) == RESERVED_LABEL_SETS
    assert len(counts) <= DEFAULT_MAX_SERIES + RESERVED_LABEL_SETS + STATUS_CLASSES
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
    competing = {labels for labels in own if not is_reserved(labels)}
    # Both workers took label sets, yet together no more than the limit.
    assert len(competing) == SMALL_LIMIT
    assert own <= {*sequence, ("GET", "/ping", "204", "2XX", "python-requests")}
    # Every reserved one the adversary sent has its series, whichever worker answered.
    assert own - competing == {labels for labels in sequence if is_reserved(labels)}
    assert len(counts) <= SMALL_LIMIT + RESERVED_LABEL_SETS + STATUS_CLASSES
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
    agents = sorted(set(KNOWN_PRODUCTS.values()))[:30]  # 30 label sets, one per agent name
    for agent in agents * 2:  # 60 requests: the workers are replaced several times
        # HEAD: a label set no agent has reserved, so each competes for a place.
        response = requests.head(live.url + "/ping", headers={"User-Agent": agent}, timeout=30)
        assert response.status_code == 204
    body = requests.get(live.url + "/metrics", timeout=30).text
    counts = series_counts(body)
    own = {labels for labels in counts if labels[0] != OVERFLOW}
    assert len(own) == limit
    assert sum(counts.values()) == len(agents) * 2 + 1


# --- live: squatting ----------------------------------------------------------------

SQUATTING_REQUESTS = 10_000


@pytest.mark.slow  # 10,000 requests, then the clients
@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
def test_after_squatting_prometheus_and_telegraf_are_counted_as_themselves(
    start_server: StartServer, workers: int
) -> None:
    live = start_server(*(["--workers", str(workers)] if workers > 1 else []))
    result = squat(live.port, SQUATTING_REQUESTS)
    assert result.counted == {"Prometheus": (1, 1), "Telegraf": (2, 2)}
    assert result.overflow_moved == 0
    assert result.label_sets <= DEFAULT_MAX_SERIES + RESERVED_LABEL_SETS + STATUS_CLASSES
