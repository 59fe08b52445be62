"""`influxdb-sysinfo --workers N` (N > 1): gunicorn's arbiter with N uvicorn workers.

The arbiter prepares and locks the multiprocess directory, folds each exited worker's
files (impl/metrics/multiprocess/fold.py) and keeps the archive as published; it records
no metric itself (prometheus_client's in-process values, installed explicitly). Each
worker, once forked, installs the writer of its own files (WorkerMetrics) before it
builds its app: where values live is decided here, not by the environment at import.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

import uvicorn
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger as GunicornLogger

from impl.http.protocol import protocol_class
from impl.metrics.multiprocess.directory import prepare_directory
from impl.metrics.multiprocess.fold import Folder
from impl.metrics.multiprocess.worker import WorkerMetrics
from impl.server.app import create_app
from impl.server.config import Config
from impl.server.identity import load_or_create_instance_id
from impl.server.logs import configure
from impl.server.serving import bound_address, listen, protocol_settings, uvicorn_options
from impl.server.worker_state import WorkerContext, worker_state
from impl.upstream.prometheus import in_process_value_class, install_value_class
from impl.upstream.uvicorn import worker_serving_with

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


def _worker_class(config: Config) -> type[Any]:
    """uvicorn inside a gunicorn worker, with the options of a single process."""

    base = worker_serving_with(DrainingServer)

    class SysinfoWorker(base):  # type: ignore[misc,valid-type]
        CONFIG_KWARGS = {
            **base.CONFIG_KWARGS,
            **uvicorn_options(config),
            "http": protocol_class(protocol_settings(config)),
        }

        async def callback_notify(self) -> None:
            """Every half gunicorn timeout: alive for the arbiter; and without an arbiter
            (killed), no one folds this worker's files or takes its place: leave."""
            if os.getppid() != self.ppid:
                log.warning("the arbiter is gone: worker %s leaves", os.getpid())
                os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown
            self.notify()

    return SysinfoWorker


class _ServiceLogs(GunicornLogger):  # type: ignore[misc]
    """gunicorn's own messages in the service's log format (impl/server/logs.py)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()
            logger.propagate = True
        self.access_log.disabled = True  # impl/http/observe.py writes the access log


class _ServiceArbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's arbiter, with the directory's upkeep in its main loop: manage_workers
    runs at every turn (at least once a second), after signals, exited workers included,
    are handled."""

    def manage_workers(self) -> None:
        super().manage_workers()
        self.app.upkeep()


class _WorkersApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn's view of the service: options from Config, one app per worker."""

    def __init__(self, config: Config, listener_fd: int) -> None:
        self._config = config
        self._listener_fd = listener_fd
        # Set by serve(), once the directory is prepared; gunicorn calls the hooks after.
        self._context: WorkerContext
        self._folder: Folder
        self._metrics: WorkerMetrics | None = None
        self._writers: set[int] = set()  # every process that may write into the directory
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

    def serve(self, instance_id: str, address: str) -> int:
        """Prepare and lock the multiprocess directory, run the arbiter until it ends
        (sys.exit), and release the directory."""
        owned = prepare_directory(self._config.multiproc_dir)
        arbiter_pid = os.getpid()
        self._writers.add(arbiter_pid)
        try:
            started = (time.time_ns(), time.monotonic())
            self._context = WorkerContext(owned.path, arbiter_pid, *started)
            self._folder = Folder(owned.path)
            fields = {
                "address": address,
                "instance_id": instance_id,
                "token_protected": self._config.token_protected,
                "workers": self._config.workers,
                "multiproc_dir": str(owned.path),
            }
            log.info("starting", extra={"fields": fields})
            self.run()  # ends in sys.exit
        finally:
            # Each worker leaves through here as well (gunicorn ends it with sys.exit).
            if os.getpid() == arbiter_pid:
                owned.release(self._writers)
        return 0

    def run(self) -> None:
        """BaseApplication.run, with the service's arbiter."""
        try:
            _ServiceArbiter(self).run()
        except RuntimeError as err:
            print(f"\nError: {err}\n", file=sys.stderr)
            sys.exit(1)

    def load(self) -> Any:
        """In each worker, after the fork: its own files, state, registry and app."""
        configure(self._config.log_level, self._config.log_format, self._config.tokens)
        self._metrics = WorkerMetrics(self._context.directory)
        state = worker_state(self._config, self._context, self._metrics)
        return create_app(self._config, state, server_process=True)

    def worker_exit(self, arbiter: Any, worker: Any) -> None:
        """In a worker that exits normally: its last counts reach the files. (gunicorn
        also calls it in the arbiter for a worker found gone without being reaped.)"""
        if os.getpid() == self._context.arbiter_pid:
            self.fold(arbiter, worker)
        elif self._metrics is not None:
            self._metrics.stop()

    def fold(self, _arbiter: Any, worker: Any) -> None:
        """In the arbiter, for every worker that has exited, however it ended, before
        any new worker is forked (child_exit): its files go into the archive."""
        self._writers.add(worker.pid)
        try:
            self._folder.fold(worker.pid)
        except OSError as err:  # the files stay, read as they are; upkeep folds them later
            log.warning("could not fold the files of worker %s yet: %s", worker.pid, err.strerror)
        except Exception:  # the files stay, read as they are: nothing is lost
            log.exception("could not fold the files of worker %s", worker.pid)

    def upkeep(self) -> None:
        """In the arbiter, at every turn of its loop, which must survive whatever fails."""
        try:
            self._folder.upkeep()
        except Exception:
            log.exception("multiprocess directory upkeep failed")


def serve_workers(config: Config) -> int:
    """Run the arbiter until SIGTERM (in-flight requests complete first) or SIGINT."""
    # The arbiter records nothing: a child made here by mistake would stay in memory,
    # where the environment (PROMETHEUS_MULTIPROC_DIR) might have put it in a file.
    install_value_class(in_process_value_class())
    # Bound before anything else, as with one process: a port in use is one clear
    # error, where gunicorn would retry for five seconds and exit with its own.
    listener = listen(config)
    address = bound_address(listener)
    # A bad state directory fails here, once, rather than in every worker.
    instance_id = load_or_create_instance_id(config.state_dir)
    return _WorkersApplication(config, listener.detach()).serve(instance_id, address)
