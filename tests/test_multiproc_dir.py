"""One multiprocess directory, one owner: a second instance is refused and harms nothing;
at exit an instance removes only what it created."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from impl.metrics.multiprocess.directory import LOCK_NAME, NotRegularFile, open_for_reading
from tests.conftest import StartServer
from tests.support.scaleout import scrape, send_pings, wait_for, worker_pids
from tools.metrics_text import request_count

pytestmark = pytest.mark.slow  # gunicorn arbiters with workers


def start_second(directory: Path, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "impl.main", "--port", "0", "--workers", "2"]
        + ["--state-dir", str(state), "--multiproc-dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_instance_on_the_same_directory_is_refused(
    start_server: StartServer, tmp_path: Path
) -> None:
    directory = tmp_path / "multiproc"
    first = start_server("--workers", "2", "--multiproc-dir", str(directory))
    send_pings(first.url, 20)
    files_before = sorted(p.name for p in directory.iterdir())

    second = start_second(directory, tmp_path / "state2")
    assert second.returncode == 2
    assert first.process is not None
    assert second.stderr.strip().splitlines() == [
        f"influxdb-sysinfo: multiproc dir {directory} is in use by another instance "
        f"(pid {first.process.pid})"
    ]
    # The first instance lost nothing and goes on counting.
    assert sorted(p.name for p in directory.iterdir()) == files_before
    assert request_count(scrape(first.url), user_agent="curl") == 20
    send_pings(first.url, 5)
    body = scrape(first.url)
    assert request_count(body, user_agent="curl") == 25
    assert request_count(body) == 25 + 1 + 1  # the readiness ping and the first scrape
    assert first.stop() == 0
    assert not directory.exists()


def test_a_one_process_instance_on_a_directory_in_use_is_refused(
    start_server: StartServer, tmp_path: Path
) -> None:
    """Whatever its mode: named by --multiproc-dir or by prometheus_client's variable, a
    directory another instance holds stops a one-process instance too, before it counts."""
    directory = tmp_path / "multiproc"
    first = start_server("--workers", "2", "--multiproc-dir", str(directory))
    send_pings(first.url, 5)
    assert first.process is not None
    refusal = (
        f"influxdb-sysinfo: multiproc dir {directory} is in use by another instance "
        f"(pid {first.process.pid})"
    )
    for flags, env in (
        (["--multiproc-dir", str(directory)], {}),
        ([], {"PROMETHEUS_MULTIPROC_DIR": str(directory)}),
    ):
        second = subprocess.run(
            [sys.executable, "-m", "impl.main", "--port", "0", "--state-dir", str(tmp_path / "s")]
            + flags,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env},
        )
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [refusal]
    body = scrape(first.url)
    assert request_count(body, user_agent="curl") == 5
    assert request_count(body) == 5 + 1  # and the readiness ping: nothing of the others


def test_exit_removes_only_what_the_instance_created(
    start_server: StartServer, tmp_path: Path
) -> None:
    directory = tmp_path / "multiproc"
    live = start_server("--workers", "2", "--multiproc-dir", str(directory))
    # Another program writes into the directory while the service runs.
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    code = "from prometheus_client import Counter; Counter('other', 'o').inc()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    [other] = [
        p for p in directory.glob("counter_*.db") if int(p.stem[8:]) not in worker_pids(live)
    ]
    assert live.stop() == 0
    assert sorted(p.name for p in directory.iterdir()) == [other.name]
    assert "multiproc dir left in place" in live.log()


def test_a_killed_instance_leaves_no_lock_behind(start_server: StartServer, tmp_path: Path) -> None:
    """flock locks go with their processes: after a SIGKILL of the whole instance,
    the next one starts on the same directory and wipes what the first left."""
    directory = tmp_path / "multiproc"
    first = start_server("--workers", "2", "--multiproc-dir", str(directory))
    send_pings(first.url, 10)
    assert first.process is not None
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait(30)
    wait_for(lambda: not worker_pids(first), "the killed instance's workers to go")
    assert (directory / LOCK_NAME).exists()

    second = start_server("--workers", "2", "--multiproc-dir", str(directory))
    body = scrape(second.url)
    assert request_count(body, user_agent="curl") == 0
    assert request_count(body) == 1  # its own readiness ping only


@pytest.mark.parametrize("shape", ["fifo", "directory", "symlink"])
def test_only_a_regular_file_is_opened_for_reading(tmp_path: Path, shape: str) -> None:
    """Opening a FIFO to read would wait for a writer for ever; a symlink is not followed."""
    regular = tmp_path / "counter_1.db"
    regular.write_bytes(b"x")
    fd = open_for_reading(str(regular))
    assert os.read(fd, 1) == b"x"
    os.close(fd)
    other = tmp_path / "counter_2.db"
    if shape == "fifo":
        os.mkfifo(other)
    elif shape == "directory":
        other.mkdir()
    else:
        other.symlink_to(regular)
    with pytest.raises(OSError) as refused:  # at once: nothing waits
        open_for_reading(str(other))
    if shape != "symlink":
        assert isinstance(refused.value, NotRegularFile)
        assert refused.value.strerror == "not a regular file"
