"""The picture beside the table: scrape latency against series and worker count, this
service beside prometheus_client.

For each series count and worker count, one server of each side, scraped over HTTP in
interleaved rounds (median): the service as it runs (`influxdb-sysinfo`, or with
`--workers N`), and prometheus_client as its users run it (make_wsgi_app under one
gunicorn sync worker; with N workers, its multiprocess mode,
bench/baseline_multiprocess.py). With several workers the synthetic series are
written into the directory by a helper process, as in bench/multiworker.py.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from bench.load import Scraper
from bench.multiworker import fill, interleave, workers_service
from bench.procs import Server, baseline, baseline_multiprocess, service

SIDES = ("influxdb-sysinfo", "prometheus_client")
WORKER_COUNTS = (1, 2, 4)


@dataclass(frozen=True)
class Point:
    side: str
    workers: int
    series: int
    seconds: float  # median scrape latency


def _servers(workdir: Path, series: int, workers: int) -> dict[str, tuple[Server, Path | None]]:
    tag = f"chart-{series}-{workers}"
    if workers == 1:
        return {
            SIDES[0]: (service(workdir, series, name=f"{tag}-ours"), None),
            SIDES[1]: (baseline(workdir, series, name=f"{tag}-theirs"), None),
        }
    return {
        SIDES[0]: workers_service(workdir, workers, f"{tag}-ours"),
        SIDES[1]: baseline_multiprocess(workdir, workers, f"{tag}-theirs"),
    }


def measure(workdir: Path, rounds: dict[int, int]) -> list[Point]:
    """Median scrape latency of both sides at every series count (the keys of
    `rounds`, with the number of rounds for each) and worker count."""
    points = []
    for series, count in rounds.items():
        for workers in WORKER_COUNTS:
            servers = _servers(workdir, series, workers)
            with contextlib.ExitStack() as stack:
                for server, _ in servers.values():
                    stack.enter_context(server)
                for _, directory in servers.values():
                    if directory is not None:
                        fill(directory, series)
                scrapers = {side: Scraper(server.port) for side, (server, _) in servers.items()}
                timings = interleave({s: scraper.scrape for s, scraper in scrapers.items()}, count)
                for scraper in scrapers.values():
                    scraper.close()
            points += [Point(s, workers, series, timings[s].median) for s in SIDES]
    return points


def table(points: list[Point]) -> list[str]:
    """The chart's figures as a markdown table (milliseconds)."""
    series = sorted({p.series for p in points})
    lines = [
        "| server | workers | " + " | ".join(f"{n // 1000}k series" for n in series) + " |",
        "| --- | ---: |" + " ---: |" * len(series),
    ]
    for side in SIDES:
        for workers in WORKER_COUNTS:
            cells = [
                f"{p.seconds * 1000:.1f} ms"
                for n in series
                for p in points
                if (p.side, p.workers, p.series) == (side, workers, n)
            ]
            lines.append(f"| {side} | {workers} | " + " | ".join(cells) + " |")
    return lines


def draw(points: list[Point], out: Path) -> None:
    """A log-log line chart: one line per side and worker count."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    colours = {1: "tab:blue", 2: "tab:orange", 4: "tab:green"}
    for side, style in zip(SIDES, ("-", "--"), strict=True):
        for workers in WORKER_COUNTS:
            mine = sorted((p for p in points if (p.side, p.workers) == (side, workers)),
                          key=lambda p: p.series)  # fmt: skip
            axes.plot(
                [p.series for p in mine],
                [p.seconds * 1000 for p in mine],
                style,
                marker="o",
                color=colours[workers],
                label=f"{side}, {workers} worker{'s' if workers > 1 else ''}",
            )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("series (text samples served)")
    axes.set_ylabel("GET /metrics latency, median (ms)")
    axes.set_title("Scrape latency: influxdb-sysinfo (solid) and prometheus_client (dashed)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
