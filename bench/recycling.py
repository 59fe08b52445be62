"""Scrape latency after many worker recycles, beside prometheus_client's.

The service runs `--workers 2 --max-requests M` with the synthetic series in its
directory; pings are sent until gunicorn has replaced its workers N times, and the
scrape latency is measured before and after, each time in rounds interleaved with a
one-process service, the reference: each phase's figure is the median over rounds of
the scrape's time over the reference's in the same round, which takes the machine's
drift and bursts of load out of the ratio of the phases.
prometheus_client's multiprocess mode (bench/baseline_multiprocess.py: gunicorn sync
workers, mark_process_dead at exit) goes through the same N recycles with the same
series; its figure is MultiProcessCollector and generate_latest reading its
directory in-process, in the same rounds, before and after. The note gives the raw
figures too, the reference's, and the service's directory read in-process (its read
path alone, without HTTP and without the recycling that scrapes themselves cause).
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.load import Scraper, Timings
from bench.multiworker import (
    SAMPLES,
    fill,
    interleave,
    ours_in_process,
    prometheus_client_in_process,
    workers_service,
)
from bench.procs import Server, baseline_multiprocess, get, service
from bench.ratios import Row

WORKERS = 2
MAX_REQUESTS = 20
RECYCLE_TIMEOUT_SECONDS = 900.0
PING_THREADS = 4
# Before each measurement, time for the workers that have just booted to finish:
# their start-up would be measured as scrape time otherwise.
SETTLE_SECONDS = 2.0


def _booted(server: Server) -> int:
    return server.log().count("Booting worker")


def recycle(server: Server, times: int) -> None:
    """Pings until gunicorn has booted `times` more workers than it has now."""
    target = _booted(server) + times
    deadline = time.monotonic() + RECYCLE_TIMEOUT_SECONDS

    def pings(_: int) -> None:
        while _booted(server) < target and time.monotonic() < deadline:
            for _ in range(MAX_REQUESTS):
                get(server.port, "/ping", timeout=30)

    with ThreadPoolExecutor(PING_THREADS) as pool:
        list(pool.map(pings, range(PING_THREADS)))
    if _booted(server) < target:
        raise RuntimeError(f"{server.name}: {times} recycles took over {RECYCLE_TIMEOUT_SECONDS}s")


def _against_reference(phase: dict[str, Timings], name: str) -> float:
    """The median over rounds of `name`'s time over the reference's in the same round:
    a burst of load on the machine falls on both, or is outvoted."""
    pairs = zip(phase[name].values, phase["reference"].values, strict=True)
    return statistics.median(mine / reference for mine, reference in pairs)


def _files(directory: Path) -> int:
    return sum(1 for _ in directory.iterdir())


def rows(workdir: Path, recycles: int, rounds: int) -> list[Row]:
    ours, ours_dir = workers_service(
        workdir, WORKERS, "recycled", "--max-requests", str(MAX_REQUESTS)
    )
    theirs, theirs_dir = baseline_multiprocess(
        workdir, WORKERS, "recycled-prometheus-client", MAX_REQUESTS
    )
    reference = service(workdir, SAMPLES, name="recycle-reference")
    servers = [ours, theirs, reference]
    phases: dict[str, dict[str, Timings]] = {}
    files: dict[str, tuple[int, int]] = {}
    try:
        for server in servers:
            server.start()
        fill(ours_dir, SAMPLES)
        fill(theirs_dir, SAMPLES)
        for phase in ("fresh", "after"):
            if phase == "after":
                recycle(ours, recycles)
                recycle(theirs, recycles)
            time.sleep(SETTLE_SECONDS)
            files[phase] = (_files(ours_dir), _files(theirs_dir))
            scrapers = [Scraper(server.port) for server in (ours, reference)]
            phases[phase] = interleave(
                {
                    "ours": scrapers[0].scrape,
                    "reference": scrapers[1].scrape,
                    "ours in-process": ours_in_process(ours_dir),
                    "prometheus_client": prometheus_client_in_process(theirs_dir),
                },
                rounds,
            )
            for scraper in scrapers:
                scraper.close()
    finally:
        for server in servers:
            server.stop()
    fresh, after = phases["fresh"], phases["after"]
    ours_ratio = _against_reference(after, "ours") / _against_reference(fresh, "ours")
    theirs_ratio = _against_reference(after, "prometheus_client") / _against_reference(
        fresh, "prometheus_client"
    )
    return [
        Row(
            f"scrape latency after {recycles} worker recycles, {WORKERS} workers, "
            f"{SAMPLES // 1000}k series",
            "the same service fresh",
            ours_ratio,
            "≤ 1.20",
            ours_ratio <= 1.2,
            f"{fresh['ours'].median * 1000:.1f} → {after['ours'].median * 1000:.1f} ms "
            f"(reference {fresh['reference'].median * 1000:.1f} → "
            f"{after['reference'].median * 1000:.1f} ms; its directory read in-process "
            f"{fresh['ours in-process'].median * 1000:.1f} → "
            f"{after['ours in-process'].median * 1000:.1f} ms); "
            f"files {files['fresh'][0]} → {files['after'][0]}; prometheus_client on its "
            f"directory after the same recycles: {theirs_ratio:.2f}× "
            f"({fresh['prometheus_client'].median * 1000:.0f} → "
            f"{after['prometheus_client'].median * 1000:.0f} ms, files "
            f"{files['fresh'][1]} → {files['after'][1]})",
        ),
        Row(
            f"prometheus_client after {recycles} worker recycles (MultiProcessCollector "
            "+ generate_latest, in-process)",
            "the same, fresh",
            theirs_ratio,
            note="for comparison: exited workers' files stay",
        ),
    ]


__all__ = ["recycle", "rows"]
