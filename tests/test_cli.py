"""impl/cli.py: the single-process service stops cleanly."""

from __future__ import annotations

import signal
from pathlib import Path

import requests

from tests.live import LiveServer


def test_sigterm_exits_zero_after_serving(tmp_path: Path) -> None:
    live = LiveServer(tmp_path).start()
    assert requests.get(live.url + "/ping", timeout=10).status_code == 204
    assert live.stop(signal.SIGTERM) == 0
    assert "Application shutdown complete" in live.log()
