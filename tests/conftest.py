"""Fixtures: live service processes on loopback, one per configuration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.live import LiveServer

StartServer = Callable[..., LiveServer]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One service with the default configuration, shared by read-mostly tests."""
    with LiveServer(tmp_path_factory.mktemp("server")) as live:
        yield live


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A service of its own, for tests that count exactly."""
    with LiveServer(tmp_path) as live:
        yield live


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start services with given flags and environment; all are stopped afterwards."""
    started: list[LiveServer] = []

    def start(*args: str, env: dict[str, str] | None = None, wait: bool = True) -> LiveServer:
        workdir = tmp_path / f"s{len(started)}"
        workdir.mkdir()
        live = LiveServer(workdir, args, env)
        started.append(live)
        return live.start(wait=wait)

    yield start
    for live in started:
        live.stop()
