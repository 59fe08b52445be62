"""`influxdb-sysinfo`: the service, under uvicorn (gunicorn with --workers > 1)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from impl.metrics.multiprocess.directory import MultiprocDirError, refuse_if_in_use
from impl.server.app import create_app
from impl.server.config import Config, ConfigError, load_config, unknown_variables
from impl.server.logs import configure
from impl.server.serving import bound_address, listen, uvicorn_options
from impl.server.state import AppState
from impl.server.workers import serve_workers
from impl.upstream.prometheus import in_process_value_class, install_value_class

log = logging.getLogger("impl.main")  # not __name__: "__main__" under -m

# prometheus_client's own variable: a one-process instance started with it set must
# neither write into that directory nor run beside the instance that owns it.
_PROMETHEUS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_config(argv)
        configure(config.log_level, config.log_format, config.tokens)
        for warning in unknown_variables():
            log.warning(warning)
        if config.workers > 1:
            return serve_workers(config)
        state, listener = _one_process(config)
    except (ConfigError, MultiprocDirError) as err:  # bad flags, directories, port in use
        print(f"influxdb-sysinfo: {err}", file=sys.stderr)
        return 2
    fields = {
        "address": bound_address(listener),
        "instance_id": state.instance_id,
        "token_protected": config.token_protected,
    }
    log.info("starting", extra={"fields": fields})
    app = create_app(config, state, server_process=True)
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(config)))
    # uvicorn drains in-flight requests on SIGTERM, then restores the handler it found
    # and raises the signal again; this one turns that into a clean exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server.run(sockets=[listener])
    return 0 if server.started else 1


def _one_process(config: Config) -> tuple[AppState, socket.socket]:
    """One process: values in memory, whatever the environment says."""
    for configured in (config.multiproc_dir, os.environ.get(_PROMETHEUS_DIR_VARIABLE)):
        if configured:
            refuse_if_in_use(Path(configured))
    install_value_class(in_process_value_class())
    return AppState.create(config), listen(config)


if __name__ == "__main__":
    sys.exit(main())
