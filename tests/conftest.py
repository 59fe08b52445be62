"""Fixtures: apps in-process for what needs no socket, live processes for what does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from impl.server.app import create_app
from impl.server.config import Config
from tools.live import LiveServer

StartServer = Callable[..., LiveServer]
MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[MakeClient]:
    """In-process clients of apps made by create_app(Config(**settings)), each with its
    own registry and state directory, started (lifespan) as uvicorn starts them."""
    clients: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        config = Config(**{"state_dir": tmp_path / f"state{len(clients)}", **settings})
        client: TestClient = create_app(config).test_client()
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    """An in-process app with the default configuration, fresh for each test."""
    return make_client()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live service with the default configuration, shared by read-mostly tests."""
    with LiveServer(tmp_path_factory.mktemp("server")) as live:
        yield live


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A live service of its own, for tests that count exactly over a socket."""
    with LiveServer(tmp_path) as live:
        yield live


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start live services with given flags and environment; all are stopped afterwards."""
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
