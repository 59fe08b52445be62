"""A worker's state when several worker processes serve one instance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.platform_collector import PlatformCollector

from impl.metrics.http_metrics import HttpMetrics
from impl.metrics.multiprocess.collectors import ServiceProcessCollector
from impl.metrics.multiprocess.worker import WorkerMetrics
from impl.server.config import Config
from impl.server.identity import IdentityCollector, load_or_create_instance_id
from impl.server.state import AppState, watch_drills

HEALTH_CHECK = "multiprocess-directory"


@dataclass(frozen=True)
class WorkerContext:
    """What a worker inherits from the arbiter that started the instance."""

    directory: Path  # prometheus_client's multiprocess directory
    arbiter_pid: int
    started_ns: int  # the instance's start (Unix nanoseconds), for /ready
    started_monotonic: float  # the same instant, for influxdb_uptime_seconds


def worker_state(config: Config, context: WorkerContext, metrics: WorkerMetrics) -> AppState:
    """A worker's state: its registry shows the merged metrics of every worker, and
    /health says whether the directory holds every count."""
    instance_id = load_or_create_instance_id(config.state_dir)
    identity = IdentityCollector(config, instance_id, context.started_monotonic)
    registry = CollectorRegistry()
    processes = ServiceProcessCollector(context.arbiter_pid)
    platform = PlatformCollector(registry=None)
    registry.register(metrics.collector(processes, platform, identity))
    drills = watch_drills(config, registry)

    def directory_check() -> tuple[str, bool, str]:
        return (HEALTH_CHECK, *metrics.health())

    return AppState(
        config=config,
        instance_id=instance_id,
        registry=registry,
        # Recorded into this worker's files, which the registry reads with every worker's.
        http_metrics=HttpMetrics(
            registry=None, max_series=config.max_http_series, shared=metrics.label_sets()
        ),
        started_ns=context.started_ns,
        started_monotonic=context.started_monotonic,
        health_probes=(directory_check,),
        drills=drills,
    )
