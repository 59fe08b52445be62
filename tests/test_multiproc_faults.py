"""--workers N when the multiprocess directory fails under it: a full file system, files
truncated, unlinked or overwritten by someone else. Every endpoint keeps answering, no
process dies, /health and the log say what happened, and at most the damaged file's
counts are missing, and only until it is written anew."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from impl.metrics.multiprocess.directory import ARCHIVE_NAME
from impl.metrics.user_agents import KNOWN_PRODUCTS
from tests.conftest import StartServer
from tests.support.scaleout import (
    PingLoad,
    only_worker,
    scrape,
    send_pings,
    start_workers,
    wait_for,
    worker_pids,
)
from tools.live import LiveServer
from tools.metrics_text import request_count

pytestmark = pytest.mark.slow  # gunicorn arbiters with workers, under load

TMPFS_SIZE = "8m"
GARBAGE = b"\x00garbage{"
FILL_CHUNKS = (1 << 20, 1 << 16, 1 << 12)


def health(url: str) -> tuple[int, dict[str, str]]:
    """/health's status, and its checks' messages by name for the failing ones."""
    response = requests.get(url + "/health", timeout=30)
    checks = response.json()["checks"]
    return response.status_code, {c["name"]: c["message"] for c in checks if c["status"] == "fail"}


def fill(path: Path) -> None:
    """Write `path` until its file system has no room left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in FILL_CHUNKS:
            with pytest.raises(OSError) as full:
                while True:
                    os.write(fd, bytes(chunk))
            assert full.value.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.fixture
def on_small_tmpfs(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    """`influxdb-sysinfo --workers 2` with its multiprocess directory on an 8 MB tmpfs of
    its own (a mount namespace of its own: nothing stays mounted when it ends), and that
    directory as the test reaches it (through /proc/<pid>/root)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("mounting a tmpfs needs root and unshare")
    mount = tmp_path / "fs"
    mount.mkdir()
    (tmp_path / "server").mkdir()
    live = LiveServer(tmp_path / "server", ["--workers", "2", "--multiproc-dir", str(mount / "mp")])
    service = live.command
    mount_then_run = f'mount -t tmpfs -o size={TMPFS_SIZE} tmpfs "$0" && exec "$@"'
    live.command = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
    live.command += [mount_then_run, str(mount), *service]
    try:
        live.start()
        wait_for(
            lambda: len(worker_pids(live)) == 2 and live.log().count("startup complete") == 2,
            "2 workers to boot",
        )
        yield live, Path(f"/proc/{live.pid}/root{mount}")
    finally:
        live.stop()


def test_a_full_file_system_costs_no_answer_and_no_count(
    on_small_tmpfs: tuple[LiveServer, Path],
) -> None:
    live, mount = on_small_tmpfs
    directory = Path("/") / mount.relative_to(f"/proc/{live.pid}/root")
    workers = worker_pids(live)
    sent = 0  # requests of this test beside the load, each answered and counted
    with PingLoad(live.url, threads=4) as load:
        wait_for(lambda: load.completed_at_least(200), "the load to warm up")
        fill(mount / "filler")
        # New series (a user agent and a path each) need room the files do not have.
        for product in sorted(set(KNOWN_PRODUCTS.values()) - {"curl"}):
            for path in ("/ping", "/ready", "/openapi.json"):
                agent = {"User-Agent": f"{product}/1.0"}
                response = requests.get(live.url + path, headers=agent, timeout=30)
                assert response.status_code in (200, 204)
                sent += 1
        for _ in range(6):  # each worker, on a new connection each time
            status, failing = health(live.url)
            sent += 1
            assert status == 503
            assert failing.keys() == {"multiprocess-directory"}, failing
            assert failing["multiprocess-directory"].startswith(f"{directory}/mp: ")
            assert "no space left on device" in failing["multiprocess-directory"].lower()
            scrape(live.url)  # /metrics answers too
            sent += 1
        assert "No space left on device" in live.log()
        before_freeing = load.completed

        (mount / "filler").unlink()

        def healthy() -> bool:
            nonlocal sent
            sent += 1
            return health(live.url)[0] == 200

        # Both workers (several new connections in a row), once what waited is stored.
        wait_for(lambda: all(healthy() for _ in range(6)), "/health to pass again")
        wait_for(lambda: load.completed_at_least(before_freeing + 200), "load after freeing")
    assert load.failed == 0
    assert worker_pids(live) == workers  # no worker died, none was replaced
    body = scrape(live.url)
    assert request_count(body, user_agent="curl") == load.completed
    # Every request answered is counted: the load, this test's own, the readiness ping.
    assert request_count(body) == load.completed + sent + 1
    assert "multiprocess file stored again" in live.log()


def damage(path: Path, how: str) -> None:
    if how == "truncated":
        os.truncate(path, 0)
    elif how == "unlinked":
        path.unlink()
    else:
        with path.open("r+b") as file:
            file.write(b"\x07" * path.stat().st_size)


def failing_directory_check(url: str) -> str:
    status, failing = health(url)
    assert status == 503, failing
    return failing["multiprocess-directory"]


@pytest.mark.parametrize("how", ["truncated", "unlinked", "overwritten"])
def test_a_damaged_worker_file_is_said_and_written_anew(
    start_server: StartServer, tmp_path: Path, how: str
) -> None:
    directory = tmp_path / "multiproc"
    live = start_workers(start_server, directory, 2)
    victim, other = worker_pids(live)
    with only_worker(live, victim):
        send_pings(live.url, 40)
    with only_worker(live, other):
        scrape(live.url)  # the other worker holds the victim's files from now on
        [histogram] = directory.glob(f"histogram_{victim}.db")
        damage(histogram, how)
        # The victim stopped meanwhile: the other finds the damage before it is mended.
        message = failing_directory_check(live.url)
    assert histogram.name in message, message
    assert "Traceback" not in live.log()
    # The victim writes its file anew from memory within a second or so, and says so.
    wait_for(lambda: "written anew" in live.log(), "the victim to write its file anew")
    with only_worker(live, victim):
        message = failing_directory_check(live.url)
    assert f"{histogram.name}: {how}" in message, message
    assert worker_pids(live) == [victim, other]  # no process died of it
    send_pings(live.url, 10)
    # Nothing lost once written anew.
    assert request_count(scrape(live.url), user_agent="curl") == 50


def test_a_garbage_archive_costs_no_answer_and_is_published_anew(
    start_server: StartServer, tmp_path: Path
) -> None:
    directory = tmp_path / "multiproc"
    live = start_workers(start_server, directory, 2, "--max-requests", "30")
    send_pings(live.url, 100)  # workers recycled: their counts folded into the archive
    wait_for(lambda: (directory / ARCHIVE_NAME).exists(), "an archive")
    assert request_count(scrape(live.url), user_agent="curl") == 100
    archive = directory / ARCHIVE_NAME
    for _ in range(5):
        archive.write_bytes(GARBAGE)
        for _ in range(4):  # never a 500, whichever worker reads it
            scrape(live.url)
        with contextlib.suppress(AssertionError):
            wait_for(lambda: "published anew" in live.log(), "the arbiter to publish it anew", 10)
            break
        # A worker recycled late (a loaded machine) may have had its fold publish a
        # version over the garbage before the arbiter's upkeep saw it: plant it again.
        assert archive.read_bytes() != GARBAGE, "the garbage stayed and was not published anew"
    message = failing_directory_check(live.url)
    assert f"{ARCHIVE_NAME}: " in message, message
    body = scrape(live.url)
    assert request_count(body, user_agent="curl") == 100


def test_a_garbage_file_of_no_worker_is_said_and_left_out(
    start_server: StartServer, tmp_path: Path
) -> None:
    directory = tmp_path / "multiproc"
    live = start_workers(start_server, directory, 2)
    send_pings(live.url, 20)
    (directory / "counter_999999.db").write_bytes(b"\x07" * 5000)
    assert request_count(scrape(live.url), user_agent="curl") == 20
    message = failing_directory_check(live.url)
    assert "counter_999999.db: its length field reads 117901063" in message, message


@pytest.mark.parametrize("shape", ["fifo", "directory"])
def test_a_file_name_holding_no_regular_file_costs_no_answer(
    start_server: StartServer, tmp_path: Path, shape: str
) -> None:
    """A FIFO, or a directory, under the archive's name and under a worker file's name:
    opening a FIFO to read waits for a writer, for ever, and took every scrape, /health
    and /ping with it. Now each is a damaged file, said, and left out."""
    directory = tmp_path / "multiproc"
    live = start_workers(start_server, directory, 2, "--max-requests", "30")
    send_pings(live.url, 100)  # workers recycled: their counts folded into the archive
    wait_for(lambda: (directory / ARCHIVE_NAME).exists(), "an archive")
    planted = [directory / ARCHIVE_NAME, directory / "counter_999999.db"]
    for path in planted:
        path.unlink(missing_ok=True)
        os.mkfifo(path) if shape == "fifo" else path.mkdir()
    for _ in range(4):  # whichever worker answers: never a hang, never a 500
        scrape(live.url)
    assert requests.get(live.url + "/ping", timeout=10).status_code == 204
    message = failing_directory_check(live.url)
    assert "counter_999999.db: not a regular file" in message, message
    # The arbiter publishes its archive anew (it keeps it in memory): nothing lost.
    wait_for(lambda: (directory / ARCHIVE_NAME).is_file(), "the archive published anew")
    assert request_count(scrape(live.url), user_agent="curl") == 100
    assert "Traceback" not in live.log()
