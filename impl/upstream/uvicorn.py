"""uvicorn's (and uvicorn-worker's, h11's) private names, each use grouped under the code
that relies on it. tests/upstream/test_uvicorn.py states every assumption against the
installed versions: an upgrade that breaks one turns its test red."""

from __future__ import annotations

import sys

import uvicorn
from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker

# ---- gunicorn's uvicorn worker (impl/server/workers.py) ---------------------------------
#
# UvicornWorker builds its uvicorn.Server in `_serve`, with no way to pass another server
# class; its SIGQUIT handler is installed by `_install_sigquit_handler`, which `_serve`
# calls once the event loop runs.


def worker_serving_with(server_class: type[uvicorn.Server]) -> type[UvicornWorker]:
    """UvicornWorker serving with `server_class`: uvicorn-worker 0.4.0's `_serve`, but for
    the server class."""

    class ServingWorker(UvicornWorker):  # type: ignore[misc]  # gunicorn is untyped
        async def _serve(self) -> None:
            self.config.app = self.wsgi
            server = server_class(config=self.config)
            self._install_sigquit_handler()
            await server.serve(sockets=self.sockets)
            if not server.started:
                sys.exit(Arbiter.WORKER_BOOT_ERROR)

    return ServingWorker
