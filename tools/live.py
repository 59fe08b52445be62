"""The service as a real process on loopback, for tests that need its socket."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import requests

from tools.processes import LOOPBACK, ServerProcess

START_TIMEOUT_SECONDS = 20.0


class LiveServer(ServerProcess):
    """`influxdb-sysinfo` on a port of its own choosing; its log goes to `log_path`."""

    def __init__(
        self, workdir: Path, args: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.state_dir = workdir / "state"
        flags = ["--host", LOOPBACK, "--port", "0", "--state-dir", str(self.state_dir), *args]
        super().__init__(
            [sys.executable, "-m", "impl.main", *flags],
            workdir / "server.log",
            env,
            START_TIMEOUT_SECONDS,
        )

    def start(self, wait: bool = True) -> Self:
        super().start()
        if wait:
            self.wait_until_up()
        return self

    def wait_until_up(self, headers: dict[str, str] | None = None) -> None:
        """Ping until one is answered 204. Only refused connections, which the service
        never sees, are retried soon: a ping that has connected is waited for, however
        slowly a loaded machine boots a worker, so each 204 or refusal is one counted request."""

        def answers() -> bool:
            try:
                timeouts = (1, START_TIMEOUT_SECONDS)  # (connect, read)
                response = requests.get(self.url + "/ping", headers=headers, timeout=timeouts)
            except requests.ConnectionError:
                return False
            return response.status_code == 204

        self.wait_until(answers, "answer /ping")


__all__ = ["START_TIMEOUT_SECONDS", "LiveServer"]
