"""Who this instance is: a persistent instance ID, `influxdb_info` and uptime."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import platform
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from impl.server.config import Config, ConfigError

log = logging.getLogger(__name__)

ID_FILE = "instance-id"
ID_PATTERN = re.compile(r"[0-9a-f]{16}")
# An ID and its newline; a larger file is not an ID file, and is not read whole.
_READ_LIMIT = 64


class StateDirError(ConfigError):
    """The state directory cannot hold the instance ID."""


def load_or_create_instance_id(state_dir: Path) -> str:
    """The 16-hex-digit instance ID kept in `state_dir`, created on first start. The
    directory may be shared or hold what someone planted, so the ID file is read only if
    regular (no symlink, FIFO or device: a FIFO would block start-up for ever), and written
    to a new, exclusively created file (never a path someone prepared) renamed over the old
    one. A file holding something else than an ID is replaced, with a warning."""
    path = state_dir / ID_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        existing = _read_id_file(path)
        if existing is not None and ID_PATTERN.fullmatch(existing):
            return existing
        if existing is not None:
            log.warning(
                "instance ID file held no instance ID: replaced with a new one",
                extra={"fields": {"path": str(path)}},
            )
        new_id = secrets.token_hex(8)
        _write_atomically(path, new_id + "\n")
        return new_id
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise StateDirError(f"state directory {state_dir} is not usable: {reason}") from err


def _read_id_file(path: Path) -> str | None:
    """The text of the ID file (its first bytes), None if there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise StateDirError(f"{path} is a symbolic link: remove it") from err
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StateDirError(f"{path} is not a regular file: remove it")
        return os.read(fd, _READ_LIMIT).decode("ascii", errors="replace").strip()
    finally:
        os.close(fd)


def _write_atomically(path: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class IdentityCollector(Collector):
    """`influxdb_info` and `influxdb_uptime_seconds`, computed at each scrape."""

    def __init__(self, config: Config, instance_id: str, started_monotonic: float) -> None:
        machine = platform.machine().lower()
        self._info_labels = {
            # As Go spells GOARCH, which influxd reports.
            "arch": {"x86_64": "amd64", "aarch64": "arm64", "i686": "386"}.get(machine, machine),
            "build_date": "",
            "commit": config.commit,
            "cpus": str(os.cpu_count() or 1),
            "os": platform.system().lower(),
            "version": config.influxdb_version,
        }
        self._instance_id = instance_id
        self._started = started_monotonic

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "influxdb_info",
            "Information about the influxdb environment.",
            labels=list(self._info_labels),
        )
        info.add_metric(list(self._info_labels.values()), 1)
        yield info
        uptime = GaugeMetricFamily(
            "influxdb_uptime_seconds", "influxdb process uptime in seconds", labels=["id"]
        )
        uptime.add_metric([self._instance_id], time.monotonic() - self._started)
        yield uptime
