"""Per-app state: everything one running app owns, reachable from its handlers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import flask
from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from impl.config import Config
from impl.http_metrics import HttpMetrics
from impl.identity import IdentityCollector, load_or_create_instance_id
from impl.multiprocess import GcMirror, MergedView, WorkerContext

EXTENSION_KEY = "influxdb_sysinfo"


@dataclass
class AppState:
    config: Config
    instance_id: str
    registry: CollectorRegistry
    http_metrics: HttpMetrics
    started_ns: int = field(default_factory=time.time_ns)  # wall clock, for /ready
    started_monotonic: float = field(default_factory=time.monotonic)
    ready: bool = False
    gc_mirror: GcMirror | None = None  # only in a worker of several

    @classmethod
    def create(cls, config: Config, worker: WorkerContext | None = None) -> AppState:
        """Build the registry with process, runtime, identity and HTTP metrics.

        With `worker`, this app is one of several worker processes of the instance
        (impl/workers.py), and its registry shows the merged metrics of all of them.
        """
        instance_id = load_or_create_instance_id(config.state_dir)
        if worker is not None:
            return cls._create_worker(config, instance_id, worker)
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        started_monotonic = time.monotonic()
        registry.register(IdentityCollector(config, instance_id, started_monotonic))
        return cls(
            config=config,
            instance_id=instance_id,
            registry=registry,
            http_metrics=HttpMetrics(registry),
            started_monotonic=started_monotonic,
        )

    @classmethod
    def _create_worker(cls, config: Config, instance_id: str, worker: WorkerContext) -> AppState:
        registry = CollectorRegistry()
        identity = IdentityCollector(config, instance_id, worker.started_monotonic)
        registry.register(MergedView(worker, identity))
        return cls(
            config=config,
            instance_id=instance_id,
            registry=registry,
            # Recorded into this worker's multiprocess files; the registry reads them
            # back with every other worker's, so the metrics must not be registered too.
            http_metrics=HttpMetrics(registry=None),
            started_ns=worker.started_ns,
            started_monotonic=worker.started_monotonic,
            gc_mirror=GcMirror().start(),
        )


def current_state() -> AppState:
    """The state of the app serving the current request."""
    state: AppState = flask.current_app.extensions[EXTENSION_KEY]
    return state
