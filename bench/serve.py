"""The service as `influxdb-sysinfo` runs it, plus the benchmark's synthetic families.

    python -m bench.serve [--bench-samples N] [--bench-changing N] [--bench-no-http-metrics]
                          [service flags]

The protocol and the uvicorn options are the service's own (impl.server.serving), so
scrapes go through the stack a user runs. Only this entry point adds
synthetic families (bench/synthetic.py) or turns the HTTP metrics off, so neither
switch exists in the service itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn
from prometheus_client import CollectorRegistry

from bench.changing import add_changing
from bench.synthetic import add_synthetic, samples_from_env
from impl.http.protocol import protocol_class
from impl.metrics.http_metrics import HttpMetrics
from impl.server.app import create_app
from impl.server.config import load_config
from impl.server.logs import configure
from impl.server.serving import protocol_settings, uvicorn_options
from impl.server.state import AppState


class NullHttpMetrics(HttpMetrics):
    """HTTP metrics that record nothing: the 'off' side of the request-path cost."""

    def __init__(self) -> None:
        super().__init__(CollectorRegistry())  # a private registry nobody scrapes

    def record(self, **_fields: object) -> None:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--bench-samples", type=int, default=samples_from_env())
    parser.add_argument("--bench-no-http-metrics", action="store_true")
    parser.add_argument("--bench-changing", type=int, default=0)
    bench_args, service_args = parser.parse_known_args(argv)
    config = load_config(service_args)
    configure(config.log_level, config.log_format)
    state = AppState.create(config)
    add_synthetic(state.registry, bench_args.bench_samples)
    add_changing(state.registry, bench_args.bench_changing)
    if bench_args.bench_no_http_metrics:
        state.http_metrics = NullHttpMetrics()
    app = create_app(config, state, server_process=True)
    options = {**uvicorn_options(config), "http": protocol_class(protocol_settings(config))}
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, **options))
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
