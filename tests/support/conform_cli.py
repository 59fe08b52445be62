"""Running `influx-metrics conform` as users do: in this process through the command's
own entry point (fast, for the many defect cases), or as the installed console script."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.client.cli import main

TOOL = Path(sys.executable).with_name("influx-metrics")
RUN_TIMEOUT_SECONDS = 90


@dataclass(frozen=True)
class Run:
    status: int
    stdout: str
    stderr: str

    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.stdout)
        return parsed

    def checks(self) -> dict[str, dict[str, Any]]:
        return {check["id"]: check for check in self.document()["checks"]}

    def ids(self, outcome: str) -> set[str]:
        return {id_ for id_, check in self.checks().items() if check["outcome"] == outcome}


def conform(url: str, *args: str) -> Run:
    """`influx-metrics conform URL --format json ARGS` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["conform", url, "--format", "json", *args])
    return Run(status, out.getvalue(), err.getvalue())


def conform_command(*args: str, env: dict[str, str] | None = None) -> Run:
    """The installed console script, as a subprocess (no INFLUX_TOKEN unless given)."""
    assert TOOL.exists(), f"{TOOL} is missing: pip install -e . (it is a console script)"
    environment = {k: v for k, v in os.environ.items() if k not in ("INFLUX_TOKEN", "NO_COLOR")}
    result = subprocess.run(
        [str(TOOL), "conform", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        env={**environment, **(env or {})},
        check=False,
    )
    return Run(result.returncode, result.stdout, result.stderr)


def assert_clean(run: Run) -> None:
    """Every check ran to an outcome: no crash, no check that could not be evaluated."""
    assert "Traceback" not in run.stdout + run.stderr
    for check in run.document()["checks"]:
        assert check["outcome"] in ("pass", "fail", "skip", "not-run"), check
        assert "could not be evaluated" not in check["reason"], check
