"""`influxdb-sysinfo`: start the service under uvicorn."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import uvicorn

from impl.app import create_app
from impl.config import ConfigError, load_config
from impl.identity import StateDirError
from impl.logs import configure
from impl.state import AppState

log = logging.getLogger("impl.cli")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_config(argv)
        configure(config.log_level, config.log_format)
        state = AppState.create(config)
    except (ConfigError, StateDirError) as err:
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
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            # h11 passes any well-formed request to the app, extension methods included,
            # so each is answered with an InfluxDB error and counted; httptools answers
            # methods it does not know with a bare 400 the app never sees.
            http="h11",
            log_config=None,
            access_log=False,
            server_header=False,
            date_header=True,
            timeout_keep_alive=5,
        )
    )
    server.run()
    # uvicorn returns without raising when it cannot bind; it has logged why.
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
