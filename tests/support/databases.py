"""Real time-series databases on loopback, as write destinations: Debian's `influxd`
(InfluxDB 1.x: the v1 write API, read back with InfluxQL) and `victoria-metrics` (its
InfluxDB v2 write API, read back through its export API). Each keeps its data in a
directory of the test's, and can be stopped and started again on the same port."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import requests

from tools.processes import LOOPBACK, ServerProcess, listening_ports

START_TIMEOUT_SECONDS = 30.0
# A point as stored: measurement, sorted tags, time in ns, fields.
StoredPoint = tuple[str, tuple[tuple[str, str], ...], int, tuple[tuple[str, float], ...]]
# A sample as VictoriaMetrics stores it: name, sorted labels, time in ms, value.
Sample = tuple[str, tuple[tuple[str, str], ...], int, float]


class InfluxDB1(ServerProcess):
    """`influxd` 1.x with every listener on loopback; HTTP on `port` (0: any)."""

    def __init__(self, workdir: Path, port: int = 0) -> None:
        workdir.mkdir(exist_ok=True)
        env = {
            "INFLUXDB_META_DIR": str(workdir / "meta"),
            "INFLUXDB_DATA_DIR": str(workdir / "data"),
            "INFLUXDB_DATA_WAL_DIR": str(workdir / "wal"),
            "INFLUXDB_HTTP_BIND_ADDRESS": f"{LOOPBACK}:{port}",
            "INFLUXDB_BIND_ADDRESS": f"{LOOPBACK}:0",  # its RPC service
            "INFLUXDB_REPORTING_DISABLED": "true",
            "INFLUXDB_HTTP_LOG_ENABLED": "false",
            "INFLUXDB_DATA_QUERY_LOG_ENABLED": "false",
            "INFLUXDB_MONITOR_STORE_ENABLED": "false",
        }
        self.workdir = workdir
        super().__init__(["influxd", "run"], workdir / "influxd.log", env, START_TIMEOUT_SECONDS)

    def start(self) -> Self:
        super().start()
        # Two listeners (HTTP and RPC): the HTTP one answers /ping.
        self.wait_until(self._find_http_port, "answer /ping")
        return self

    def _find_http_port(self) -> bool:
        for port in sorted(listening_ports(self.pid)):
            try:
                response = requests.get(f"http://{LOOPBACK}:{port}/ping", timeout=2)
            except requests.RequestException:
                continue
            if response.status_code == 204:
                self.port, self.url = port, f"http://{LOOPBACK}:{port}"
                return True
        return False

    def restarted(self) -> InfluxDB1:
        """The same database, started again on the same port after `stop`."""
        return InfluxDB1(self.workdir, self.port).start()

    def query(self, database: str, statement: str) -> list[dict[str, Any]]:
        response = requests.post(
            self.url + "/query",
            params={"db": database, "epoch": "ns"},
            data={"q": statement},
            timeout=30,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()["results"][0]
        assert "error" not in result, result
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def create_database(self, database: str) -> None:
        self.query(database, f'CREATE DATABASE "{database}"')

    def points(self, database: str) -> list[StoredPoint]:
        """Every point of `database`, tags told from fields by SHOW TAG KEYS."""
        tag_keys: dict[str, set[str]] = {}
        for series in self.query(database, "SHOW TAG KEYS"):
            tag_keys[series["name"]] = {row[0] for row in series["values"]}
        stored: list[StoredPoint] = []
        for series in self.query(database, "SELECT * FROM /.*/"):
            measurement = series["name"]
            columns = series["columns"]
            tags_here = tag_keys.get(measurement, set())
            for row in series["values"]:
                named = dict(zip(columns, row, strict=True))
                time_ns = int(named.pop("time"))
                tags = tuple(sorted((k, v) for k, v in named.items() if k in tags_here and v))
                fields = tuple(
                    sorted(
                        (k, float(v))
                        for k, v in named.items()
                        if k not in tags_here and v is not None
                    )
                )
                stored.append((measurement, tags, time_ns, fields))
        return stored


class VictoriaMetrics(ServerProcess):
    """`victoria-metrics` on loopback, what it stores searchable at once."""

    def __init__(self, workdir: Path, port: int = 0) -> None:
        workdir.mkdir(exist_ok=True)
        self.workdir = workdir
        command = [
            "victoria-metrics",
            f"-httpListenAddr={LOOPBACK}:{port}",
            f"-storageDataPath={workdir / 'data'}",
            "-search.latencyOffset=0s",
            "-retentionPeriod=100y",
            "-loggerLevel=WARN",
        ]
        super().__init__(command, workdir / "victoria-metrics.log", None, START_TIMEOUT_SECONDS)

    def start(self) -> Self:
        super().start()
        self.wait_until(self._healthy, "answer /health")
        return self

    def _healthy(self) -> bool:
        try:
            return requests.get(self.url + "/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def restarted(self) -> VictoriaMetrics:
        return VictoriaMetrics(self.workdir, self.port).start()

    def stop_gracefully(self) -> None:
        """SIGTERM: it stops accepting, stores what it took, and exits."""
        self.stop(signal.SIGTERM)

    def samples(self) -> list[Sample]:
        """(name, sorted labels, timestamp in ms, value) of every stored sample. New series
        become searchable a moment after they are stored: read until two reads a second
        apart agree."""
        previous: list[Sample] | None = None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            requests.get(self.url + "/internal/force_flush", timeout=30).raise_for_status()
            current = sorted(self._export())
            if current and current == previous:
                return current
            previous = current
            time.sleep(1)
        raise AssertionError(f"{len(previous or [])} samples, still changing")

    def _export(self) -> Iterator[Sample]:
        response = requests.post(
            self.url + "/api/v1/export", data={"match[]": '{__name__!=""}'}, timeout=60
        )
        response.raise_for_status()
        for line in response.text.splitlines():
            series = json.loads(line)
            labels = dict(series["metric"])
            name = labels.pop("__name__")
            key = tuple(sorted(labels.items()))
            for value, stamp in zip(series["values"], series["timestamps"], strict=True):
                yield name, key, int(stamp), float(value)
