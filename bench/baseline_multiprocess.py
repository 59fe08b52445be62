"""The multi-worker anchor: prometheus_client's multiprocess mode as its documentation
sets it up, under gunicorn's sync workers.

    PROMETHEUS_MULTIPROC_DIR=dir gunicorn -c python:bench.baseline_multiprocess \\
        --workers N [--max-requests M] 'bench.baseline_multiprocess:app'

Each worker records every request into the same families as the service
(impl.metrics.http_metrics.HttpMetrics, in the multiprocess files); /metrics is
MultiProcessCollector in a fresh registry and generate_latest; child_exit calls
mark_process_dead. Exited workers' files stay, as prometheus_client leaves them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from impl.metrics.http_metrics import HttpMetrics

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_metrics = HttpMetrics(registry=None)


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    started = time.perf_counter()
    path = environ.get("PATH_INFO", "/")
    if path == "/metrics":
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body, status = generate_latest(registry), "200 OK"
        headers = [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]
    else:
        body, status, headers = b"", "204 No Content", []
    _metrics.record(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=path,
        status=int(status[:3]),
        user_agent=environ.get("HTTP_USER_AGENT"),
        seconds=time.perf_counter() - started,
    )
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's hook, as prometheus_client's documentation gives it."""
    mark_process_dead(worker.pid, os.environ["PROMETHEUS_MULTIPROC_DIR"])  # type: ignore[no-untyped-call]
