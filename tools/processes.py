"""Server processes on loopback that pick their own port.

Every server a test or the benchmark starts binds port 0, and the port it got is read
back from /proc: the listening socket among the process's file descriptors. No port
is chosen beforehand, so none can be taken by another process in between, and no
server's log format has to be parsed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"
TCP_LISTEN = "0A"  # the state column of /proc/net/tcp for a listening socket


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (empty while it has not bound yet)."""
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return set()
    inodes = set()
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == TCP_LISTEN and inode in inodes:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


class ServerProcess:
    """`command` run with its output in `log_path`, serving on the port it bound."""

    def __init__(
        self,
        command: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self.command = list(command)
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.url = ""

    def start(self) -> Self:
        """Start the command and wait until it listens (not until it answers)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # so that stop() reaches gunicorn's workers too
            )
        self.port = self._wait(lambda: min(listening_ports(self.pid), default=0), "listen")
        self.url = f"http://{LOOPBACK}:{self.port}"
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        self._wait(lambda: int(ready()), what)

    def _wait(self, probe: Callable[[], int], what: str) -> int:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}:\n{self.log()}")
            found = probe()
            if found:
                return found
            time.sleep(0.02)
        raise RuntimeError(f"did not {what} within {self.start_timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Signal the process, wait for it, and kill what is left of its session."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # workers it left behind

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["LOOPBACK", "ServerProcess", "listening_ports"]
