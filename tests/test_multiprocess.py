"""The multiprocess collectors without processes: finding the service's processes in /proc."""

from __future__ import annotations

from pathlib import Path

from impl.metrics.multiprocess.collectors import service_pids


def fake_process(proc: Path, pid: int, parent: int, command: str = "python3") -> Path:
    directory = proc / str(pid)
    (directory / "task" / str(pid)).mkdir(parents=True)
    # /proc/<pid>/stat: pid (comm) state ppid ...; comm may hold spaces and parentheses.
    (directory / "stat").write_text(f"{pid} ({command}) S {parent} {pid} 0 0\n", encoding="ascii")
    return directory


def test_service_pids_are_the_arbiter_then_its_children(tmp_path: Path) -> None:
    arbiter = fake_process(tmp_path, 100, 1)
    (arbiter / "task" / "100" / "children").write_text("205 201 ", encoding="ascii")
    assert service_pids(100, tmp_path) == [100, 201, 205]


def test_service_pids_scan_proc_without_a_children_file(tmp_path: Path) -> None:
    fake_process(tmp_path, 100, 1)
    fake_process(tmp_path, 201, 100, command="gunicorn: worker (x) [a]")
    fake_process(tmp_path, 202, 100)
    fake_process(tmp_path, 300, 1)  # not ours
    (tmp_path / "self").mkdir()  # /proc has entries that are no process
    assert service_pids(100, tmp_path) == [100, 201, 202]
