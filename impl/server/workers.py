"""`influxdb-sysinfo --workers N` (N > 1): gunicorn's arbiter with N uvicorn workers.

Order matters: prometheus_client decides when first imported whether values live in
process memory or in files under PROMETHEUS_MULTIPROC_DIR, and gunicorn forks every
worker from this process. So the directory (directory.py) is prepared and exported here
before anything imports prometheus_client, and impl/main.py imports this module first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

import uvicorn
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger as GunicornLogger
from uvicorn_worker import UvicornWorker

from impl.metrics.multiprocess.directory import prepare_directory
from impl.metrics.multiprocess.fold import fold_process
from impl.server.config import Config
from impl.server.logs import configure
from impl.server.serving import bound_address, listen, uvicorn_options

if TYPE_CHECKING:  # imported for real only once the directory is exported
    from impl.metrics.multiprocess.collectors import GcMirror
    from impl.server.worker_state import WorkerContext

log = logging.getLogger(__name__)

_PROC_NAME = "influxdb-sysinfo"
_FIRST_REQUEST_GRACE_SECONDS = 0.1


class DrainingServer(uvicorn.Server):
    """uvicorn's server, leaving gently. A leaving worker (--max-requests, SIGTERM) closes
    at once every connection without a request yet, among them those just accepted, whose
    clients then see a reset. So it first stops accepting (other workers take the new
    connections), waits a moment for the accepted ones' requests, then shuts down as
    uvicorn does, answering the requests that have arrived."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        await asyncio.sleep(_FIRST_REQUEST_GRACE_SECONDS)
        await super().shutdown(sockets)


def _worker_class(config: Config) -> type[UvicornWorker]:
    """uvicorn inside a gunicorn worker, with the options of a single process."""

    class SysinfoWorker(UvicornWorker):  # type: ignore[misc]  # gunicorn is untyped
        CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, **uvicorn_options(config)}

        async def _serve(self) -> None:
            # UvicornWorker's own, with the draining server.
            self.config.app = self.wsgi
            server = DrainingServer(config=self.config)
            self._install_sigquit_handler()
            await server.serve(sockets=self.sockets)
            if not server.started:
                sys.exit(Arbiter.WORKER_BOOT_ERROR)

    return SysinfoWorker


class _ServiceLogs(GunicornLogger):  # type: ignore[misc]
    """gunicorn's own messages in the service's log format (impl/server/logs.py)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()
            logger.propagate = True
        self.access_log.disabled = True  # impl/http/observe.py writes the access log


class _WorkersApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn's view of the service: options from Config, one app per worker."""

    def __init__(
        self, config: Config, context: WorkerContext, listener_fd: int, writers: set[int]
    ) -> None:
        self._config = config
        self._context = context
        self._listener_fd = listener_fd
        self._gc_mirror: GcMirror | None = None
        self._writers = writers
        super().__init__(prog=_PROC_NAME)

    def load_config(self) -> None:
        options = {
            # Bound already (serving.listen): gunicorn adopts it, and closes it at exit.
            "bind": [f"fd://{self._listener_fd}"],
            "workers": self._config.workers,
            "worker_class": _worker_class(self._config),
            "proc_name": _PROC_NAME,
            "loglevel": self._config.log_level,
            "logger_class": f"{__name__}._ServiceLogs",
            # uvicorn's timeout_keep_alive, which uvicorn_options sets too. The other limits
            # have no gunicorn counterpart for uvicorn workers: each worker enforces them.
            "keepalive": self._config.keep_alive_timeout,
            # Worker recycling: the files do not pile up, as child_exit folds each exited one.
            "max_requests": self._config.max_requests,
            "max_requests_jitter": self._config.max_requests_jitter,
            # The control socket is a thread in the arbiter, which forks the workers.
            "control_socket_disable": True,
            "child_exit": self.fold,
            "worker_exit": self.worker_exit,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """In each worker, after the fork: its own state, registry and app."""
        from impl.metrics.multiprocess.collectors import GcMirror
        from impl.server.app import create_app
        from impl.server.worker_state import worker_state

        configure(self._config.log_level, self._config.log_format, self._config.tokens)
        state = worker_state(self._config, self._context)
        self._gc_mirror = GcMirror()
        return create_app(self._config, state)

    def worker_exit(self, arbiter: Any, worker: Any) -> None:
        """In a worker that exits normally: its last GC counts reach the files. (gunicorn
        also calls it in the arbiter for a worker found gone without being reaped.)"""
        if os.getpid() == self._context.arbiter_pid:
            self.fold(arbiter, worker)
        elif self._gc_mirror is not None:
            self._gc_mirror.stop()

    def fold(self, _arbiter: Any, worker: Any) -> None:
        """In the arbiter, for every worker that has exited, however it ended, before
        any new worker is forked (child_exit): its files go into the archive."""
        self._writers.add(worker.pid)
        try:
            fold_process(self._context.directory, worker.pid)
        except Exception:  # the files stay, and are read as they are: nothing is lost
            log.exception("could not fold the files of worker %s", worker.pid)


def serve_workers(config: Config) -> int:
    """Run the arbiter until SIGTERM (in-flight requests complete first) or SIGINT."""
    if "prometheus_client" in sys.modules:
        # Workers would silently keep their counts to themselves: fail loudly instead.
        raise RuntimeError("prometheus_client was imported before impl.workers")
    # Bound before anything else, as with one process: a port in use is one clear
    # error, where gunicorn would retry for five seconds and exit with its own.
    listener = listen(config)
    owned = prepare_directory(config.multiproc_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(owned.path)
    arbiter_pid = os.getpid()
    writers = {arbiter_pid}  # every process that may write into the directory
    try:
        from impl.server.identity import load_or_create_instance_id
        from impl.server.worker_state import WorkerContext

        # A bad state directory fails here, once, rather than in every worker.
        instance_id = load_or_create_instance_id(config.state_dir)
        # Loaded before the fork, so that every worker shares its pages.
        import impl.server.app  # noqa: F401

        context = WorkerContext(owned.path, arbiter_pid, time.time_ns(), time.monotonic())
        fields = {
            "address": bound_address(listener),
            "instance_id": instance_id,
            "token_protected": config.token_protected,
            "workers": config.workers,
            "multiproc_dir": str(owned.path),
        }
        log.info("starting", extra={"fields": fields})
        _WorkersApplication(config, context, listener.detach(), writers).run()  # ends in sys.exit
    finally:
        # Each worker leaves through here as well (gunicorn ends it with sys.exit).
        if os.getpid() == arbiter_pid:
            owned.release(writers)
    return 0
