"""schemathesis, the yardstick reviewers use, against every server of conform_defects.py:
wherever it finds a problem, conform fails the server too, and it finds none in the
faithful one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from impl.client.conform import Conformance, run_conform
from impl.client.conform.contract import carried_spec
from tests.support.conform_defects import DEFECTS, FAITHFUL, Defect, influxd_server

pytestmark = pytest.mark.slow  # a schemathesis process per server

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SEED = "20261125"
# What schemathesis sees in any run: the answers to valid requests and to undeclared
# methods. (Error bodies and codes it sees only where its fuzzing provokes a 400.)
SCHEMATHESIS_SEES = {
    "/metrics served as text/html",
    "/health served as text/plain",
    "/health without its required name",
    "/ready status outside its enum",
    "/ready started not a date-time",
    "/ping answered 200 with a body",
    "wrong methods answered 404",
    "405 without Allow",
    "500 for a malformed Zap-Trace-Span",
}


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spec conform carries, for schemathesis to read."""
    path = tmp_path_factory.mktemp("spec") / "openapi.yaml"
    path.write_text(yaml.safe_dump(carried_spec().document, sort_keys=False), encoding="utf-8")
    return path


def schemathesis_findings(spec: Path, url: str, workdir: Path) -> str:
    """schemathesis' report of what it found ("" when it found nothing)."""
    result = subprocess.run(
        [str(SCHEMATHESIS), "run", str(spec), "--url", url, "--checks", "all",
         "--max-examples", "10", "--seed", SEED, "--no-shrink", "--request-timeout", "10"],
        capture_output=True, text=True, timeout=300, cwd=workdir, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: it found problems
    return "" if result.returncode == 0 else result.stdout.split("FAILURES", 1)[-1]


def test_there_is_something_for_schemathesis_to_find() -> None:
    assert SCHEMATHESIS_SEES <= {defect.name for defect in DEFECTS}


@pytest.mark.parametrize("defect", DEFECTS, ids=[defect.name for defect in DEFECTS])
def test_conform_fails_wherever_schemathesis_finds_a_problem(
    defect: Defect, spec_file: Path, tmp_path: Path
) -> None:
    with influxd_server(defect) as server:
        findings = schemathesis_findings(spec_file, server.url, tmp_path)
    with influxd_server(defect) as server:  # a fresh one: the same state conform would find
        report = run_conform(server.url)
    if defect is FAITHFUL:
        assert findings == "" and report.conformance is Conformance.CONFORMANT
    if defect.name in SCHEMATHESIS_SEES:
        assert findings, "schemathesis no longer finds this defect"
    if findings:
        failed = [result.check.id for result in report.blocking]
        assert report.conformance is Conformance.NOT_CONFORMANT, findings
        assert failed, findings
