"""Where answers are made (impl/http/answers.py): large and blocking ones in a thread,
with the same bytes as on the event loop."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import Counter
from starlette.types import Scope

from impl.http.answers import OFF_LOOP_BODY_BYTES, Offload
from impl.http.asgi import OPERATION
from impl.http.operations import Operation
from impl.server.app import create_app
from impl.server.config import Config
from impl.server.state import AppState

METRICS = Operation("GetMetrics", "GET", "/metrics", exposition=True, validation_cannot_fail=True)
HEALTH = Operation("GetHealth", "GET", "/health", exposition=False, validation_cannot_fail=True)


def scope(operation: Operation, query: bytes = b"") -> Scope:
    return {"type": "http", "query_string": query, "extensions": {OPERATION: operation}}


def test_blocking_operations_and_large_answers_go_to_a_thread() -> None:
    offload = Offload(blocking={HEALTH.operation_id})
    assert offload.wanted(scope(HEALTH))
    assert not offload.wanted(scope(METRICS))
    offload.note(scope(METRICS), OFF_LOOP_BODY_BYTES + 1)
    assert offload.wanted(scope(METRICS))
    # A selection is answered apart: its size says nothing of the whole exposition's.
    assert not offload.wanted(scope(METRICS, b"name[]=a"))
    offload.note(scope(METRICS, b"name[]=a"), 100)
    assert offload.wanted(scope(METRICS))
    offload.note(scope(METRICS), 100)
    assert not offload.wanted(scope(METRICS))
    assert not offload.wanted({"type": "http", "extensions": {}})


def test_large_scrapes_made_and_gzipped_in_threads_are_the_same_bytes(tmp_path: Path) -> None:
    config = Config(state_dir=tmp_path)
    state = AppState.create(config)
    big = Counter("big", "Many series.", ["n"], registry=state.registry)
    for n in range(8000):
        big.labels(f"series-{n:05d}").inc(n)
    with create_app(config, state).test_client() as client:
        names = {"name[]": "big"}
        first = client.get("/metrics", params=names, headers={"Accept-Encoding": "identity"})
        assert len(first.content) > OFF_LOOP_BODY_BYTES  # the next ones are made in a thread
        again = client.get("/metrics", params=names, headers={"Accept-Encoding": "identity"})
        zipped = client.get("/metrics", params=names, headers={"Accept-Encoding": "gzip"})
    assert again.content == first.content
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert int(zipped.headers["Content-Length"]) < len(first.content) // 4
    assert zipped.content == first.content  # httpx decompressed it
