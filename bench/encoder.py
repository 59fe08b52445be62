"""The encoder against generate_latest, in-process, with values changing between scrapes.

Two registries per size: counters only (bench_requests_* children), and the mix the
service would serve (AppState.create and bench/synthetic.py: counters, gauges,
histograms, summaries, the process and platform collectors). Before each round, every
value changes (each counter incremented, gauge set, histogram and summary observed), or
a fraction of the children picked at random does; then encode_text and generate_latest
encode the same registry, one after the other, their order swapped every round. The
ratio is the median over rounds of generate_latest's time over encode_text's. Full
collections of the garbage collector (generation 2) are counted during each encoder's
calls: generate_latest allocates a Sample and a dict per sample, which sets them off.
"""

from __future__ import annotations

import gc
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest

from bench.load import timed
from bench.ratios import Row
from bench.synthetic import METHODS
from impl.metrics.encoding import encode_text
from impl.upstream.prometheus import children, plain_registry_collectors

# A realistic scrape: most series did not move since the last one.
CHANGED_SHARE = 0.05
TARGET = 5.0
COUNTER_FAMILIES = 5


def counters_registry(samples: int) -> CollectorRegistry:
    """`samples` counter children over a few families, three labels each."""
    registry = CollectorRegistry()
    families = [
        Counter(f"bench_requests_{f}", "Requests handled.", ["code", "method", "path"],
                registry=registry)
        for f in range(COUNTER_FAMILIES)
    ]  # fmt: skip
    for i in range(samples):
        path = f"/api/v2/buckets/{i // 28:06x}/r{i % 28}"
        families[i % COUNTER_FAMILIES].labels(str(200 + i % 5), METHODS[i % 4], path).inc(i)
    return registry


def _children(registry: CollectorRegistry) -> list[Any]:
    """Every child of the registry's metric objects (the encoder's own accessors)."""
    found = []
    for collector in plain_registry_collectors(registry) or []:
        if isinstance(collector, Counter | Gauge | Histogram | Summary):
            found += children(collector)[1]
    return found


def _change(children: Sequence[Any], rng: random.Random) -> None:
    for child in children:
        if isinstance(child, Counter):
            child.inc()
        elif isinstance(child, Gauge):
            child.set(rng.random() * 100)
        else:
            child.observe(rng.random() * 2)


@dataclass(frozen=True)
class Measured:
    ratio: float
    encoder_ms: float
    floor_ms: float
    encoder_gc: float  # full collections per call
    floor_gc: float


def measure(registry: CollectorRegistry, share: float, rounds: int) -> Measured:
    every = _children(registry)
    rng = random.Random(20261125)
    changed = max(1, round(len(every) * share))
    encoder: list[float] = []
    floor: list[float] = []
    passes = {"encoder": 0, "floor": 0}

    def run(name: str, action: Callable[[Any], object], into: list[float]) -> None:
        before = gc.get_stats()[2]["collections"]
        into.append(timed(action, registry))
        passes[name] += gc.get_stats()[2]["collections"] - before

    encode_text(registry)  # the first scrape writes every line; the rounds measure the next
    for index in range(rounds):
        _change(every if share >= 1 else rng.sample(every, changed), rng)
        order: list[tuple[str, Callable[[Any], object], list[float]]] = [
            ("encoder", encode_text, encoder),
            ("floor", generate_latest, floor),
        ]
        for name, action, into in order if index % 2 == 0 else reversed(order):
            run(name, action, into)
    return Measured(
        statistics.median(f / e for f, e in zip(floor, encoder, strict=True)),
        statistics.median(encoder) * 1000,
        statistics.median(floor) * 1000,
        passes["encoder"] / rounds,
        passes["floor"] / rounds,
    )


def rows(
    mix: Callable[[Path, int], CollectorRegistry], workdir: Path, rounds: dict[int, int]
) -> list[Row]:
    """One row per size, registry and share of changed values."""
    result = []
    for size, count in rounds.items():
        registries = {"counters": counters_registry(size), "the mix": mix(workdir, size)}
        for kind, registry in registries.items():
            for share in (1.0, CHANGED_SHARE):
                m = measure(registry, share, count)
                changing = "every value" if share >= 1 else f"{share:.0%} of the children"
                result.append(
                    Row(
                        f"encoder speed-up, {size // 1000}k, {kind}, {changing} changing",
                        "(generate_latest time / encode_text time), in-process",
                        m.ratio,
                        f"≥ {TARGET:.2f}",
                        m.ratio >= TARGET,
                        f"{m.floor_ms:.1f} vs {m.encoder_ms:.1f} ms, median of {count} "
                        f"rounds; full GC passes per call {m.floor_gc:.2f} vs {m.encoder_gc:.2f}",
                    )
                )
    return result
