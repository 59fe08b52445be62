"""Synthetic metric families for the benchmark, added to an app's registry on request.

Off by default: only the benchmark's own entry points (bench/serve.py,
bench/baseline_wsgi.py) read SAMPLES_ENV, so the service never sees it. The families
are plain prometheus_client metrics, the kind an instrumented program registers, so
the service collects and encodes them exactly as it would a user's.
"""

from __future__ import annotations

import argparse
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

SAMPLES_ENV = "INFLUXDB_SYSINFO_BENCH_SAMPLES"

# One "unit" serves 100 text samples (no _created lines, as the service serves them):
# 28 counter children, 24 gauge children, 4 histograms of 8 bounds (+Inf, count, sum:
# 11 samples each) and 2 summaries (count, sum).
SAMPLES_PER_UNIT = 100
COUNTERS_PER_UNIT = 28
GAUGES_PER_UNIT = 24
HISTOGRAMS_PER_UNIT = 4
SUMMARIES_PER_UNIT = 2
BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
# Children are spread over a few families per type, as an exporter would have them.
FAMILIES_PER_TYPE = 5
METHODS = ("GET", "POST", "PUT", "DELETE")


def samples_from_env() -> int:
    """The sample count asked for through SAMPLES_ENV, 0 when unset."""
    return int(os.environ.get(SAMPLES_ENV, "0") or "0")


def add_synthetic(registry: CollectorRegistry, samples: int) -> int:
    """Register families serving about `samples` text samples; returns the exact count."""
    units = max(1, round(samples / SAMPLES_PER_UNIT)) if samples > 0 else 0
    if not units:
        return 0
    counters = [
        Counter(f"bench_requests_{f}", "Requests handled.", ["code", "method", "path"],
                registry=registry)
        for f in range(FAMILIES_PER_TYPE)
    ]  # fmt: skip
    gauges = [
        Gauge(f"bench_queue_depth_{f}", "Items waiting.", ["queue", "shard"], registry=registry)
        for f in range(FAMILIES_PER_TYPE)
    ]
    histograms = [
        Histogram(f"bench_latency_seconds_{f}", "Time to answer.", ["method", "path"],
                  buckets=BUCKETS, registry=registry)
        for f in range(FAMILIES_PER_TYPE)
    ]  # fmt: skip
    summaries = [
        Summary(f"bench_payload_bytes_{f}", "Payload sizes.", ["route"], registry=registry)
        for f in range(FAMILIES_PER_TYPE)
    ]
    child = 0
    for unit in range(units):
        for i in range(COUNTERS_PER_UNIT):
            family = counters[child % FAMILIES_PER_TYPE]
            path = f"/api/v2/buckets/{unit:06x}/r{i}"
            family.labels(str(200 + i % 5), METHODS[i % 4], path).inc(unit * 7 + i)
            child += 1
        for i in range(GAUGES_PER_UNIT):
            gauges[child % FAMILIES_PER_TYPE].labels(f"queue-{unit}", str(i)).set(unit / 3 + i)
            child += 1
        for i in range(HISTOGRAMS_PER_UNIT):
            histogram = histograms[child % FAMILIES_PER_TYPE]
            observed = histogram.labels(METHODS[i], f"/api/v2/write/{unit}/{i}")
            for k in range(i + 1):
                observed.observe(0.003 * (unit % 7 + 1) * (k + 1))
            child += 1
        for i in range(SUMMARIES_PER_UNIT):
            summaries[child % FAMILIES_PER_TYPE].labels(f"/api/v2/query/{unit}/{i}").observe(
                512.5 * (i + 1)
            )
            child += 1
    return units * SAMPLES_PER_UNIT


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.synthetic N`: write N samples' worth of series and exit.

    Run with PROMETHEUS_MULTIPROC_DIR set to a multi-worker service's directory, the
    values land in prometheus_client's multiprocess files there, and every worker
    merges them into its scrapes: equal series whatever the number of workers.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.synthetic")
    parser.add_argument("samples", type=int)
    args = parser.parse_args(argv)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        parser.error("PROMETHEUS_MULTIPROC_DIR is not set: the series would vanish on exit")
    add_synthetic(CollectorRegistry(), args.samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
