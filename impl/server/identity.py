"""Who this instance is: a persistent instance ID, `influxdb_info` and uptime."""

from __future__ import annotations

import os
import platform
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from impl.server.config import Config, ConfigError

ID_FILE = "instance-id"
ID_PATTERN = re.compile(r"[0-9a-f]{16}")


class StateDirError(ConfigError):
    """The state directory cannot hold the instance ID."""


def load_or_create_instance_id(state_dir: Path) -> str:
    """The 16-hex-digit instance ID kept in `state_dir`, created on first start."""
    path = state_dir / ID_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        if path.exists():
            existing = path.read_text(encoding="ascii").strip()
            if ID_PATTERN.fullmatch(existing):
                return existing
        new_id = secrets.token_hex(8)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(new_id + "\n", encoding="ascii")
        os.replace(temporary, path)
        return new_id
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise StateDirError(f"state directory {state_dir} is not usable: {reason}") from err


def go_arch() -> str:
    """The machine name as Go spells GOARCH, which influxd reports."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "i686": "386"}.get(machine, machine)


class IdentityCollector(Collector):
    """`influxdb_info` and `influxdb_uptime_seconds`, computed at each scrape."""

    def __init__(self, config: Config, instance_id: str, started_monotonic: float) -> None:
        self._info_labels = {
            "arch": go_arch(),
            "build_date": "",
            "commit": config.commit,
            "cpus": str(os.cpu_count() or 1),
            "os": platform.system().lower(),
            "version": config.version,
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
