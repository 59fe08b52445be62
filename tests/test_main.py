"""impl/main.py: the single-process service starts on the port it reports and stops cleanly."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import requests

from tools.live import LiveServer


def test_port_zero_binds_a_free_port_and_logs_which(tmp_path: Path) -> None:
    with LiveServer(tmp_path, ["--log-format", "json"]) as live:
        lines = [json.loads(line) for line in live.log().splitlines()]
        starting = [line["address"] for line in lines if line["msg"] == "starting"]
        assert live.port != 0 and starting == [f"127.0.0.1:{live.port}"]


def test_sigterm_exits_zero_after_serving(tmp_path: Path) -> None:
    live = LiveServer(tmp_path).start()
    assert requests.get(live.url + "/ping", timeout=10).status_code == 204
    assert live.stop(signal.SIGTERM) == 0
    assert "Application shutdown complete" in live.log()
