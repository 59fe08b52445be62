"""Scrapes stay fair under a crowd (impl/http/scrapes.py), with real connections: clients
hammer /metrics from a process of their own while a Prometheus-like scraper asks at an
interval (tools/attack_scrapes.py; the latencies are README's, measured there)."""

from __future__ import annotations

import pytest

from tests.conftest import StartServer
from tools.attack_scrapes import WAYS, attack


@pytest.mark.slow
@pytest.mark.parametrize("way", WAYS)
def test_a_scraper_is_answered_whatever_a_crowd_asks(start_server: StartServer, way: str) -> None:
    # Few places, so that 30 clients asking for selections of their own wait for them.
    live = start_server("--max-queued-scrapes", "4")
    figures = attack(live.port, clients=30, way=way, scrapes=12, interval=0.25)
    assert figures.statuses == {200: 12}, figures.summary()
    assert figures.failures == 0
    # The crowd is answered too: shared renders, or places given in turn.
    assert figures.hammer_statuses[200] > 0
