"""The real `prometheus` binary on loopback: Go's promhttp on its own /metrics, and a
scraper whose HTTP API the interop test reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import requests
import yaml

from tools.processes import LOOPBACK, ServerProcess

START_TIMEOUT_SECONDS = 30.0
NOTHING_TO_SCRAPE: dict[str, Any] = {"global": {"scrape_interval": "1h"}, "scrape_configs": []}


class Prometheus(ServerProcess):
    """`prometheus` with `config`, on a loopback port of its choosing."""

    def __init__(self, workdir: Path, config: dict[str, Any] = NOTHING_TO_SCRAPE) -> None:
        workdir.mkdir(exist_ok=True)
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        command = [
            "prometheus",
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:0",
            "--log.level=warn",
        ]
        super().__init__(command, workdir / "prometheus.log", start_timeout=START_TIMEOUT_SECONDS)

    def start(self) -> Self:
        super().start()
        self.wait_until(self._ready, "be ready")
        return self

    def _ready(self) -> bool:
        try:
            return requests.get(self.url + "/-/ready", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
        response = requests.get(self.url + "/api/v1/query", params=params, timeout=10)
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The value of a query that gives at most one series."""
        result = self.query(expr, at)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def targets(self) -> list[dict[str, Any]]:
        response = requests.get(self.url + "/api/v1/targets", timeout=10)
        active: list[dict[str, Any]] = response.json()["data"]["activeTargets"]
        return active
