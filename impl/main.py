"""`influxdb-sysinfo`: the service, under uvicorn (gunicorn with --workers > 1)."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence

import uvicorn

from impl.server.config import ConfigError, load_config, unknown_variables
from impl.server.logs import configure
from impl.server.serving import bound_address, listen, uvicorn_options

log = logging.getLogger("impl.main")  # not __name__: "__main__" under -m


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_config(argv)
        configure(config.log_level, config.log_format, config.tokens)
        for warning in unknown_variables():
            log.warning(warning)
        if config.workers > 1:
            # Imported here, not above: the workers' module must export prometheus_client's
            # multiprocess directory before anything imports prometheus_client.
            from impl.scaleout.workers import serve_workers

            return serve_workers(config)
        from impl.server.app import create_app
        from impl.server.state import AppState

        state = AppState.create(config)
        listener = listen(config)
    except ConfigError as err:  # bad flags, state dir, multiproc dir, port in use
        print(f"influxdb-sysinfo: {err}", file=sys.stderr)
        return 2
    fields = {
        "address": bound_address(listener),
        "instance_id": state.instance_id,
        "token_protected": config.token_protected,
    }
    log.info("starting", extra={"fields": fields})
    server = uvicorn.Server(uvicorn.Config(create_app(config, state), **uvicorn_options(config)))
    # uvicorn drains in-flight requests on SIGTERM, then restores the handler it found
    # and raises the signal again; this one turns that into a clean exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server.run(sockets=[listener])
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
