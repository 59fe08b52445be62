"""Series whose values all change between scrapes, for the benchmark's servers alike
(bench/serve.py and bench/baseline_wsgi.py; off unless asked for)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

CHANGING_ENV = "INFLUXDB_SYSINFO_BENCH_CHANGING"


class _Churn(Collector):
    """Adds 1 to every child it is given at each collection: every scrape (of the
    service and of make_wsgi_app alike) sees every value changed since the last."""

    def __init__(self, children: list[Counter]) -> None:
        self._children = children

    def collect(self) -> list[Metric]:
        for child in self._children:
            child.inc()
        return []


def add_changing(registry: CollectorRegistry, samples: int) -> None:
    """`samples` counter series whose values all change between scrapes."""
    if samples <= 0:
        return
    counter = Counter(
        "bench_changing", "Changes at every scrape.", ["shard", "item"], registry=registry
    )
    children = [counter.labels(str(n % 10), f"item-{n}") for n in range(samples)]
    registry.register(_Churn(children))
