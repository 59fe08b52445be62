"""`make bench`: one table of ratios, printed and written to bench/results/.

    python -m bench.run [--quick] [--out FILE]

Every ratio divides two figures measured side by side in this run, interleaved round
by round so that the machine's noise falls on both. Nothing here is a test: the
targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics import disable_created_metrics

from bench import chart, encoder, multiworker, recycling, requestpath
from bench.load import Scraper, Timings, timed, wrk
from bench.procs import Server, baseline, promhttp, served_samples, service
from bench.ratios import Row, document, table
from bench.synthetic import SAMPLES_PER_UNIT, add_synthetic
from impl.metrics.encoding import encode_text
from impl.metrics.http_metrics import HttpMetrics
from impl.server.config import Config
from impl.server.state import AppState

RESULTS = Path(__file__).parent / "results"
METHOD_NOTES = [
    "How each figure is made:",
    "- Registries: `AppState.create` (process, platform, gc, identity and HTTP metrics) "
    "plus bench/synthetic.py (counters, gauges, histograms, summaries with 2-3 labels). "
    "Every process runs with PROMETHEUS_DISABLE_CREATED_SERIES, so prometheus_client "
    "serializes exactly the samples /metrics serves (its text format has no `_created`).",
    "- Latency: sequential GET /metrics over one keep-alive connection (request sent to "
    "body read), alternating round by round with `generate_latest` and `encode_text` on "
    "the in-process registry. p99 is divided by the floor's median.",
    "- Throughput: wrk, 1 thread, 8 connections, identity encoding; the servers take "
    "turns, the order reversed every round; the ratio is the median of per-round ratios. "
    "Our service is one process (uvicorn); the anchor is gunicorn with one sync worker.",
    "- Per-sample rate: requests/s times samples per response, ours over promhttp's "
    "(the `prometheus` binary scraping nothing, its storage in a temporary directory), "
    "wrk alike, in the same interleaved rounds; the service twice, at 1k samples and with "
    "synthetic families bringing it near promhttp's count.",
    "- Growth: in-process, encode_text's time per sample rises by about a tenth from 10k "
    "to 100k samples even with the garbage collector off (the working set outgrows the "
    "CPU caches; the work per sample is constant). generate_latest's rises more because "
    "the Samples it allocates set off full collections: with the collector off it stays "
    "near 1.0.",
    "- /ping: the same service twice, the second with HTTP metrics recording nothing "
    "(bench/serve.py --bench-no-http-metrics); identity headers and access log in both.",
]
# prometheus_client's public switch, unannotated upstream.
disable_created: Callable[[], None] = disable_created_metrics
THROUGHPUT_SAMPLES = 1000


@dataclass(frozen=True)
class Plan:
    """How much of each measurement a run makes; QUICK stays under a minute."""

    # sample count -> interleaved rounds of (floor, encoder, scrape)
    latency_rounds: dict[int, int]
    # sample count -> rounds of (changes, encoder, floor) per registry and share changed
    encoder_rounds: dict[int, int]
    wrk_seconds: float
    wrk_rounds: int
    worker_rounds: int  # sequential scrapes per worker count (bench/multiworker.py)
    recycles: int  # worker recycles before the second measurement (bench/recycling.py)
    recycle_rounds: int
    chart_rounds: dict[int, int]  # series -> rounds per point (bench/chart.py)


FULL = Plan(
    {1000: 300, 10_000: 80, 100_000: 25},
    {10_000: 15, 100_000: 5},
    wrk_seconds=4,
    wrk_rounds=6,
    worker_rounds=40,
    recycles=500,
    recycle_rounds=30,
    chart_rounds={1000: 20, 10_000: 10, 100_000: 3},
)
QUICK = Plan(
    {1000: 60, 10_000: 12, 100_000: 4},
    {10_000: 3, 100_000: 2},
    wrk_seconds=2,
    wrk_rounds=2,
    worker_rounds=6,
    recycles=40,
    recycle_rounds=6,
    chart_rounds={1000: 4, 10_000: 2, 100_000: 1},
)


def app_registry(workdir: Path, samples: int) -> CollectorRegistry:
    """The registry the service builds (AppState.create) plus the synthetic families."""
    state = AppState.create(Config(state_dir=workdir / "state"))
    add_synthetic(state.registry, samples)
    return state.registry


@dataclass(frozen=True)
class SizeResult:
    samples: int  # as served by the service
    floor: Timings  # generate_latest, in-process
    encoder: Timings  # encode_text, in-process, same registry
    scrape: Timings  # GET /metrics through the whole stack


def measure_latency(workdir: Path, plan: Plan) -> dict[int, SizeResult]:
    """Floor, encoder and scrape for every size, all sizes interleaved round by round,
    so that growth compares sizes measured side by side too."""
    rounds = plan.latency_rounds
    registries = {size: app_registry(workdir, size) for size in rounds}
    timings: dict[int, tuple[list[float], list[float], list[float]]] = {
        size: ([], [], []) for size in rounds
    }
    with contextlib.ExitStack() as stack:
        servers = {
            size: stack.enter_context(service(workdir, size, name=f"service-{size}"))
            for size in rounds
        }
        served = {size: served_samples(server.port) for size, server in servers.items()}
        scrapers = {size: Scraper(server.port) for size, server in servers.items()}
        for size, registry in registries.items():
            for _ in range(2):  # warm-up: first-request imports, caches, buffers
                scrapers[size].scrape()
                generate_latest(registry)
                encode_text(registry)
        for index in range(max(rounds.values())):
            for size, registry in registries.items():
                if index >= rounds[size]:
                    continue
                floor, encoded, scrapes = timings[size]
                floor.append(timed(generate_latest, registry))
                encoded.append(timed(encode_text, registry))
                scrapes.append(scrapers[size].scrape())
        for scraper in scrapers.values():
            scraper.close()
    return {
        size: SizeResult(served[size], Timings(f), Timings(e), Timings(s))
        for size, (f, e, s) in timings.items()
    }


def interleaved(servers: Sequence[tuple[str, Server, str]], plan: Plan) -> dict[str, list[float]]:
    """wrk against each (name, server, path) in turn, the order reversed every round."""
    rates: dict[str, list[float]] = {name: [] for name, _, _ in servers}
    for round_index in range(plan.wrk_rounds):
        order = servers if round_index % 2 == 0 else list(reversed(servers))
        for name, server, path in order:
            result = wrk(server.url + path, plan.wrk_seconds)
            if result.failures:
                raise RuntimeError(f"{name}: {result.failures} non-2xx responses under load")
            rates[name].append(result.requests_per_second)
    return rates


def paired_ratio(rates: dict[str, list[float]], top: str, bottom: str) -> float:
    """Median over rounds of top/bottom, each pair measured back to back."""
    return statistics.median(a / b for a, b in zip(rates[top], rates[bottom], strict=True))


def latency_rows(results: dict[int, SizeResult]) -> list[Row]:
    rows = []
    for size, result in results.items():
        label = f"{size // 1000}k"
        targeted = size >= 10_000
        median = result.scrape.median / result.floor.median
        rows.append(
            Row(
                f"scrape latency median, {label} ({result.samples} samples)",
                "generate_latest, in-process",
                median,
                "≤ 1.20" if targeted else "",
                (median <= 1.2) if targeted else None,
            )
        )
        rows.append(
            Row(
                f"scrape latency p99, {label}",
                "generate_latest median",
                result.scrape.p99 / result.floor.median,
                note=f"nearest rank of {len(result.scrape.values)} scrapes",
            )
        )
    for size, result in results.items():
        speedup = result.floor.median / result.encoder.median
        rows.append(
            Row(
                f"exposition speed-up, {size // 1000}k, values unchanged",
                "(generate_latest time / encode_text time)",
                speedup,
                "≥ 2.00" if size == 100_000 else "",
                (speedup >= 2) if size == 100_000 else None,
            )
        )
    return rows


def growth_rows(results: dict[int, SizeResult]) -> list[Row]:
    """Scrape time per sample at the largest size over that at a smaller one."""
    sizes = sorted(results)
    rows = []
    for low, high in ((sizes[0], sizes[-1]), (sizes[-2], sizes[-1])):
        a, b = results[low], results[high]
        scale = b.samples / a.samples
        growth = b.scrape.median / a.scrape.median / scale
        floor_growth = b.floor.median / a.floor.median / scale
        targeted = low == sizes[0]  # the 1k->100k; 10k->100k is context
        rows.append(
            Row(
                f"growth {low // 1000}k→{high // 1000}k: scrape time ratio",
                "sample count ratio",
                growth,
                "≈ 1 (linear), ≤ 1.20" if targeted else "",
                (growth <= 1.2) if targeted else None,
                f"generate_latest in the same rounds: {floor_growth:.2f}",
            )
        )
    return rows


def comparable_samples(go_samples: int) -> int:
    """The synthetic samples that bring the service near promhttp's sample count (the
    service's own families serve a few dozen), in bench/synthetic.py's units of 100."""
    return max(SAMPLES_PER_UNIT, round(go_samples / SAMPLES_PER_UNIT) * SAMPLES_PER_UNIT)


def per_sample_row(
    rates: dict[str, list[float]], ours: str, ours_samples: int, go_samples: int, targeted: bool
) -> Row:
    """Samples per second, ours over promhttp's: requests per second times samples per
    response, each round's pair measured back to back."""
    per_sample = paired_ratio(rates, ours, "go") * ours_samples / go_samples
    return Row(
        f"per-sample rate: /metrics samples per second, {ours_samples} samples",
        f"Go promhttp (prometheus' own /metrics, {go_samples} samples)",
        per_sample,
        "≥ 1.00" if targeted else "",
        (per_sample >= 1) if targeted else None,
        "the service near promhttp's size" if targeted else "the service at 1k samples",
    )


def throughput_rows(workdir: Path, plan: Plan, prometheus: str | None) -> list[Row]:
    with (
        service(workdir, THROUGHPUT_SAMPLES, name="service-load") as ours,
        baseline(workdir, THROUGHPUT_SAMPLES) as anchor,
    ):
        servers: list[tuple[str, Server, str]] = [
            ("ours", ours, "/metrics"),
            ("baseline", anchor, "/metrics"),
        ]
        ours_samples = served_samples(ours.port)
        if prometheus is None:
            rates = interleaved(servers, plan)
            go_rows = [Row("per-sample rate", "Go promhttp", None, note="prometheus not installed")]
        else:
            with promhttp(workdir, prometheus) as go:
                go_samples = served_samples(go.port)
                size = comparable_samples(go_samples)
                with service(workdir, size, name="service-promhttp-size") as near:
                    near_samples = served_samples(near.port)
                    rates = interleaved(
                        [*servers, ("near", near, "/metrics"), ("go", go, "/metrics")], plan
                    )
            go_rows = [
                per_sample_row(rates, "near", near_samples, go_samples, targeted=True),
                per_sample_row(rates, "ours", ours_samples, go_samples, targeted=False),
            ]
    ratio = paired_ratio(rates, "ours", "baseline")
    return [
        Row(
            f"/metrics throughput, {ours_samples} samples, 1 process",
            "prometheus_client make_wsgi_app, gunicorn 1 sync worker",
            ratio,
            "≥ 1.50",
            ratio >= 1.5,
            f"wrk {plan.wrk_rounds}×{plan.wrk_seconds:.0f}s, 8 connections",
        ),
        *go_rows,
    ]


def record_seconds(calls: int = 20_000) -> float:
    """Seconds one HttpMetrics.record takes in-process: the metrics' own cost."""
    metrics = HttpMetrics(CollectorRegistry())
    started = time.perf_counter()
    for _ in range(calls):
        metrics.record(method="GET", path="/ping", status=204, user_agent="wrk", seconds=4e-4)
    return (time.perf_counter() - started) / calls


def ping_rows(workdir: Path, plan: Plan) -> list[Row]:
    with (
        service(workdir, 0, name="service-ping-on") as on,
        service(workdir, 0, http_metrics=False, name="service-ping-off") as off,
    ):
        rates = interleaved([("on", on, "/ping"), ("off", off, "/ping")], plan)
    ratio = paired_ratio(rates, "on", "off")
    # A few per cent of difference is within this machine's noise; the share of each
    # request spent recording, from the same run's rate, shows the cost without it.
    share = record_seconds() * statistics.median(rates["on"])
    return [
        Row(
            "/ping throughput, HTTP metrics on",
            "/ping throughput, HTTP metrics off",
            ratio,
            "≥ 0.90",
            ratio >= 0.9,
            f"access log on in both; median of {plan.wrk_rounds} paired rounds",
        ),
        Row(
            "HTTP metrics share of a /ping request",
            "(record() time × /ping requests per second)",
            share,
            "≤ 0.10",
            share <= 0.1,
            "record() timed in-process",
        ),
    ]


def run(plan: Plan, workdir: Path, log: Callable[[str], None]) -> list[Row]:
    disable_created()  # the in-process floor serves what the servers serve
    prometheus = shutil.which("prometheus")
    log(f"scrape latency and exposition, samples: rounds {plan.latency_rounds}")
    results = measure_latency(workdir, plan)
    log(f"encoder and generate_latest, values changing: rounds {plan.encoder_rounds}")
    encoder_rows = encoder.rows(app_registry, workdir, plan.encoder_rounds)
    log("throughput under wrk: service, prometheus_client under gunicorn, Go promhttp")
    rows = throughput_rows(workdir, plan, prometheus)
    log("/ping with HTTP metrics on and off")
    rows += ping_rows(workdir, plan)
    log("the request path: /ping and /metrics beside their anchors, /ping under big scrapes")
    rows += requestpath.rows(workdir, plan.wrk_seconds, plan.wrk_rounds)
    log("multiprocess scrape latency, 1, 2 and 4 workers; the same directory in-process")
    rows += multiworker.rows(workdir, plan.worker_rounds)
    log(f"{plan.recycles} worker recycles, the service and prometheus_client")
    rows += recycling.rows(workdir, plan.recycles, plan.recycle_rounds)
    return latency_rows(results) + encoder_rows + growth_rows(results) + rows


def missing_tools() -> list[str]:
    missing = []
    if shutil.which("wrk") is None:
        missing.append("wrk (apt-get install wrk)")
    for module in ("gunicorn", "matplotlib"):
        if importlib.util.find_spec(module) is None:
            missing.append(f"{module} (make setup)")
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="under a minute, fewer rounds")
    parser.add_argument("--out", type=Path, help="results file (default bench/results/)")
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print("bench needs: " + ", ".join(missing), file=sys.stderr)
        return 2
    plan = QUICK if args.quick else FULL
    out = args.out or RESULTS / ("quick.md" if args.quick else "latest.md")
    picture = out.with_name(out.stem + "-scrape-latency.png")
    started = time.monotonic()

    def log(text: str) -> None:
        print(f"bench: {text}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="influxdb-sysinfo-bench-") as tmp:
        rows = run(plan, Path(tmp), log)
        log(f"the chart: scrape latency by series {list(plan.chart_rounds)} and workers")
        points = chart.measure(Path(tmp), plan.chart_rounds)
    chart.draw(points, picture)
    seconds = time.monotonic() - started
    print(table(rows))
    command = "make bench QUICK=1" if args.quick else "make bench"
    notes = [
        *METHOD_NOTES,
        "",
        "Encoder rows: " + (encoder.__doc__ or "").strip(),
        "",
        "Request-path rows: " + (requestpath.__doc__ or "").strip(),
        "",
        "Multiprocess rows: " + (multiworker.__doc__ or "").strip(),
        "",
        "Recycling rows: " + (recycling.__doc__ or "").strip(),
        "",
        f"## Scrape latency by series and workers ([chart]({picture.name}))",
        "",
        f"![scrape latency by series and workers]({picture.name})",
        "",
        *chart.table(points),
        "",
        (chart.__doc__ or "").strip(),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document(rows, command, seconds, notes), encoding="utf-8")
    print(f"\nwritten to {out} and {picture}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
