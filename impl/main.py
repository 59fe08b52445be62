"""`influxdb-sysinfo`: the service, under uvicorn (gunicorn with --workers > 1)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from impl.metrics.multiprocess.directory import MultiprocDirError
from impl.server.config import ConfigError, load_config, unknown_variables
from impl.server.logs import configure
from impl.server.one_process import serve_one_process
from impl.server.workers import serve_workers

log = logging.getLogger("impl.main")  # not __name__: "__main__" under -m


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_config(argv)
        configure(config.log_level, config.log_format, config.tokens)
        for warning in unknown_variables():
            log.warning(warning)
        if config.workers > 1:
            return serve_workers(config)
        return serve_one_process(config)
    except (ConfigError, MultiprocDirError) as err:  # bad flags, directories, port in use
        print(f"influxdb-sysinfo: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
