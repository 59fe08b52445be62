"""The live service against its own spec: schemathesis with every check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.live import LiveServer

pytestmark = pytest.mark.slow  # schemathesis generates over a thousand cases

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi" / "openapi.yaml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_service_conforms_to_spec(fresh_server: LiveServer, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            str(SPEC),
            "--url",
            fresh_server.url,
            "--checks",
            "all",
            "--max-examples",
            "250",
            "--seed",
            "20261125",
            "--request-timeout",
            "10",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "No issues found" in output
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated is not None, output
    # 1,301 cases with this seed; with the raw requests of test_fuzz.py, over 11,000.
    assert int(generated.group(1)) >= 1000 and generated.group(1) == generated.group(2)
    # The process survived every case and still answers.
    assert fresh_server.process is not None and fresh_server.process.poll() is None
    assert "lvl=error" not in fresh_server.log()
