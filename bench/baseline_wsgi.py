"""The anchor: prometheus_client's own `make_wsgi_app`, for gunicorn, serving the registry
the service would serve (AppState.create plus the same synthetic families).

    gunicorn --workers N 'bench.baseline_wsgi:create()'

with INFLUXDB_SYSINFO_BENCH_SAMPLES, INFLUXDB_SYSINFO_BENCH_CHANGING and
INFLUXDB_SYSINFO_STATE_DIR in the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import make_wsgi_app

from bench.changing import CHANGING_ENV, add_changing
from bench.synthetic import add_synthetic, samples_from_env
from impl.server.config import Config
from impl.server.state import AppState

WsgiApp = Callable[..., Any]


def create() -> WsgiApp:
    state_dir = Path(os.environ.get("INFLUXDB_SYSINFO_STATE_DIR", ".state"))
    state = AppState.create(Config(state_dir=state_dir))
    add_synthetic(state.registry, samples_from_env())
    add_changing(state.registry, int(os.environ.get(CHANGING_ENV, "0") or "0"))
    app: WsgiApp = make_wsgi_app(state.registry)
    return app
