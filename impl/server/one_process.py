"""`influxdb-sysinfo` (one process, the default): uvicorn serving one app.

Start-up decides everything the server needs from Config first (the listening socket,
the instance's state, the protocol's settings, uvicorn's options, the app), and only
then touches what lies below it: the protocol class, the multiprocess directory it must
stay out of. With `--workers N`, impl/server/workers.py does the same for gunicorn.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import uvicorn

from impl.http.protocol import protocol_class
from impl.metrics.multiprocess.directory import refuse_if_in_use
from impl.server.app import create_app
from impl.server.config import Config
from impl.server.serving import bound_address, listen, protocol_settings, uvicorn_options
from impl.server.state import AppState
from impl.upstream.prometheus import in_process_value_class, install_value_class

log = logging.getLogger(__name__)

# prometheus_client's own variable: a one-process instance started with it set must
# neither write into that directory nor run beside the instance that owns it.
PROMETHEUS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def serve_one_process(config: Config) -> int:
    """Serve until SIGTERM (in-flight requests complete first) or SIGINT; the exit
    status. Values live in memory, whatever the environment says."""
    install_value_class(in_process_value_class())
    # Bound before anything else: a port in use is one clear error (serving.listen).
    listener = listen(config)
    address = bound_address(listener)
    state = AppState.create(config)
    settings = protocol_settings(config)
    options = uvicorn_options(config)
    app = create_app(config, state, server_process=True)
    server = uvicorn.Server(uvicorn.Config(app, http=protocol_class(settings), **options))
    for configured in (config.multiproc_dir, os.environ.get(PROMETHEUS_DIR_VARIABLE)):
        if configured:
            refuse_if_in_use(Path(configured))
    fields = {
        "address": address,
        "instance_id": state.instance_id,
        "token_protected": config.token_protected,
    }
    log.info("starting", extra={"fields": fields})
    # uvicorn drains in-flight requests on SIGTERM, then restores the handler it found
    # and raises the signal again; this one turns that into a clean exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server.run(sockets=[listener])
    return 0 if server.started else 1
