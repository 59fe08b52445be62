"""`influxdb-sysinfo`: start the service under uvicorn (gunicorn with --workers > 1)."""

from __future__ import annotations

import logging
import signal
import socket
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from impl.config import Config, ConfigError, load_config
from impl.logs import configure
from impl.protocol import server_options

log = logging.getLogger("impl.cli")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_config(argv)
        configure(config.log_level, config.log_format, config.tokens)
        if config.workers > 1:
            # Imported here, not above: impl.workers must set up prometheus_client's
            # multiprocess directory before anything imports prometheus_client.
            from impl.workers import serve_workers

            return serve_workers(config)
        from impl.app import create_app
        from impl.state import AppState

        state = AppState.create(config)
        listener = listen(config)
    except ConfigError as err:  # bad flags, state dir or multiproc dir
        print(f"influxdb-sysinfo: {err}", file=sys.stderr)
        return 2
    app = create_app(config, state)
    log.info(
        "starting",
        extra={
            "fields": {
                "address": f"{config.host}:{config.port}",
                "instance_id": state.instance_id,
                "token_protected": config.token_protected,
            }
        },
    )
    server = uvicorn_server(app, config)
    # uvicorn drains in-flight requests on SIGTERM, then restores the handler it found
    # and raises the signal again; this one turns that into a clean exit 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    server.run(sockets=[listener])
    return 0 if server.started else 1


def uvicorn_server(app: ASGIApp, config: Config) -> uvicorn.Server:
    """One uvicorn server for `app`; impl/workers.py mirrors these options for
    --workers > 1."""
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            # h11 with the header timeout, head-size limit and keep-alive timeout
            # (impl/protocol.py, which also says why h11).
            **server_options(config),
            log_config=None,
            access_log=False,
            server_header=False,
            date_header=True,
        )
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def listen(config: Config) -> socket.socket:
    """The listening socket, bound before uvicorn starts: a port in use is then one
    clear line, where uvicorn would log its start-up complete and only then fail."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    try:
        return socket.create_server((config.host, config.port), family=family, backlog=2048)
    except OSError as err:
        # Python appends "(while attempting to bind on address ...)": the address is
        # already in the message.
        reason = (err.strerror or str(err)).split(" (while attempting", 1)[0].lower()
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {reason}") from err


if __name__ == "__main__":
    sys.exit(main())
