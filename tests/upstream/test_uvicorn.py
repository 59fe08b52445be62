"""The assumptions impl/upstream/uvicorn.py makes about uvicorn and uvicorn-worker."""

from __future__ import annotations

import asyncio
import inspect
import signal
import textwrap
from typing import Any

from uvicorn_worker import UvicornWorker

# ---- gunicorn's uvicorn worker ----------------------------------------------------------

# UvicornWorker._serve as copied into worker_serving_with, with `Server` where the copy
# takes the server class: an upgrade that changes it must be copied again.
SERVE_COPIED = """
async def _serve(self) -> None:
    self.config.app = self.wsgi
    server = Server(config=self.config)
    self._install_sigquit_handler()
    await server.serve(sockets=self.sockets)
    if not server.started:
        sys.exit(Arbiter.WORKER_BOOT_ERROR)
"""


def test_the_copied_serve_is_uvicorn_workers_own() -> None:
    source = textwrap.dedent(inspect.getsource(UvicornWorker._serve))
    assert source.strip() == SERVE_COPIED.strip()


def test_install_sigquit_handler_sets_one_on_the_running_loop() -> None:
    class Worker:
        def __init__(self) -> None:
            self.exits: list[Any] = []

        def handle_exit(self, *args: Any) -> None:
            self.exits.append(args)

    async def install() -> bool:
        UvicornWorker._install_sigquit_handler(worker)
        return asyncio.get_running_loop().remove_signal_handler(signal.SIGQUIT)

    worker = Worker()
    assert asyncio.run(install()) is True
