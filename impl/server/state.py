"""Per-app state: everything one running app owns, reachable from its handlers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import flask
from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from impl.metrics.http_metrics import HttpMetrics
from impl.server.collection import RegistryCollection
from impl.server.config import Config
from impl.server.drills import DrillCollector, DrillFile
from impl.server.identity import IdentityCollector, load_or_create_instance_id

EXTENSION_KEY = "influxdb_sysinfo"

# A /health check beyond the handlers' own: its name, whether it passes, and why.
HealthProbe = Callable[[], tuple[str, bool, str]]


@dataclass
class AppState:
    config: Config
    instance_id: str
    registry: CollectorRegistry
    http_metrics: HttpMetrics
    started_ns: int = field(default_factory=time.time_ns)  # wall clock, for /ready
    started_monotonic: float = field(default_factory=time.monotonic)
    ready: bool = False
    health_probes: tuple[HealthProbe, ...] = ()  # several workers: their directory's
    # /health's collections, one at a time in a thread of their own.
    registry_collection: RegistryCollection = field(default_factory=RegistryCollection)
    # The operator's failure drills (--drill-file): none without the file.
    drills: DrillFile = field(default_factory=lambda: DrillFile(None))

    @classmethod
    def create(cls, config: Config) -> AppState:
        """One process serving the instance: process, runtime, identity and HTTP metrics
        in a registry of its own (workers of several: impl/server/worker_state.py)."""
        instance_id = load_or_create_instance_id(config.state_dir)
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        started_monotonic = time.monotonic()
        registry.register(IdentityCollector(config, instance_id, started_monotonic))
        drills = watch_drills(config, registry)
        return cls(
            config=config,
            instance_id=instance_id,
            registry=registry,
            http_metrics=HttpMetrics(registry, max_series=config.max_http_series),
            started_monotonic=started_monotonic,
            drills=drills,
        )


def watch_drills(config: Config, registry: CollectorRegistry) -> DrillFile:
    """The drill file of `config`, its gauge in `registry` when there is one."""
    drills = DrillFile(config.drill_file)
    if config.drill_file is not None:
        registry.register(DrillCollector(drills))
    return drills


def current_state() -> AppState:
    state: AppState = flask.current_app.extensions[EXTENSION_KEY]
    return state
