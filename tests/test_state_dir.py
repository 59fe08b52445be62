"""The state directory may hold what someone planted there: the instance ID is read
and written without following links or blocking on special files."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from impl.server.identity import ID_FILE, StateDirError, load_or_create_instance_id

START_PATIENCE = 20.0


def test_planted_temporary_symlink_does_not_redirect_the_write(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n", encoding="ascii")
    state = tmp_path / "state"
    state.mkdir()
    (state / f"{ID_FILE}.tmp").symlink_to(victim)  # the name the ID used to be written via
    instance_id = load_or_create_instance_id(state)
    assert victim.read_text(encoding="ascii") == "precious\n"
    assert (state / ID_FILE).read_text(encoding="ascii") == instance_id + "\n"
    assert not (state / ID_FILE).is_symlink()


def test_fifo_as_id_file_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ID_FILE)
    outcome: list[Exception | str] = []

    def load() -> None:
        try:
            outcome.append(load_or_create_instance_id(tmp_path))
        except Exception as err:  # what it raised is the outcome
            outcome.append(err)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(START_PATIENCE)
    assert outcome, "reading the instance ID blocked on a FIFO"
    assert isinstance(outcome[0], StateDirError)
    assert "is not a regular file" in str(outcome[0])


def test_fifo_as_id_file_stops_start_up_with_one_clear_line(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ID_FILE)
    result = subprocess.run(
        [sys.executable, "-m", "impl.main", "--port", "0", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=START_PATIENCE,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"influxdb-sysinfo: {tmp_path / ID_FILE} is not a regular file: remove it"
    ]


def test_symlink_as_id_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("0123456789abcdef\n", encoding="ascii")
    (tmp_path / ID_FILE).symlink_to(target)
    with pytest.raises(StateDirError, match="is a symbolic link"):
        load_or_create_instance_id(tmp_path)


def test_garbage_id_file_is_replaced_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / ID_FILE).write_bytes(b"\x00not an id\xff" * 1000)
    with caplog.at_level(logging.WARNING, logger="impl.server.identity"):
        instance_id = load_or_create_instance_id(tmp_path)
    assert (tmp_path / ID_FILE).read_text(encoding="ascii") == instance_id + "\n"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "instance ID file held no instance ID: replaced with a new one"
    ]
    assert load_or_create_instance_id(tmp_path) == instance_id  # and kept from then on
    assert len(caplog.records) == 1


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    load_or_create_instance_id(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [ID_FILE]
