"""The reviewed spec passes the linters people point at OpenAPI documents, and a mock
made from it answers what conform's body checks accept."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from openapi_spec_validator import validate

from tests.support.node import QUIET_NODE_ENV, ROOT, node_tool

SPEC = ROOT / "openapi" / "openapi.yaml"
INFLUX_METRICS = Path(sys.executable).with_name("influx-metrics")
START_SECONDS = 60


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, **QUIET_NODE_ENV},
    )  # fmt: skip


def test_openapi_spec_validator_accepts_it() -> None:
    validate(yaml.safe_load(SPEC.read_text(encoding="utf-8")))


@pytest.mark.slow
def test_redocly_recommended_strict_finds_nothing() -> None:
    linted = run(
        node_tool("redocly"), "lint", "--extends", "recommended-strict", "--format", "json",
        str(SPEC),
    )  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr
    report = json.loads(linted.stdout)
    assert report["problems"] == []
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}


@pytest.mark.slow
def test_spectral_oas_finds_nothing() -> None:
    ruleset = ROOT / "openapi" / "spectral.yaml"
    linted = run(node_tool("spectral"), "lint", "--ruleset", str(ruleset), "-F", "hint", str(SPEC))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "No results with a severity of 'hint' or higher found" in linted.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def mock_url(tmp_path: Path) -> Iterator[str]:
    """Prism mocking the reviewed spec on loopback, from its examples."""
    port = free_port()
    log = (tmp_path / "prism.log").open("w")
    prism = subprocess.Popen(
        [node_tool("prism"), "mock", "--host", "127.0.0.1", "--port", str(port), str(SPEC)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **QUIET_NODE_ENV},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                requests.get(url + "/ping", timeout=2)
                break
            except requests.ConnectionError:
                assert prism.poll() is None, (tmp_path / "prism.log").read_text()
                assert time.monotonic() < deadline, "prism did not start"
                time.sleep(0.2)
        yield url
    finally:
        prism.terminate()
        prism.wait(timeout=20)
        log.close()


@pytest.mark.slow
def test_a_mock_from_the_spec_answers_what_conform_accepts(mock_url: str) -> None:
    judged = subprocess.run(
        [str(INFLUX_METRICS), "conform", mock_url, "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    checks = {check["id"]: check for check in json.loads(judged.stdout)["checks"]}
    bodies = [
        "spec.get-metrics.body",
        "spec.get-health.body",
        "spec.get-ready.body",
        "spec.get-ping.body",
        "metrics.exposition.parses",
    ]
    assert {name: checks[name]["outcome"] for name in bodies} == dict.fromkeys(bodies, "pass")
    # The mock's answers are the spec's examples, which show what the service sends.
    assert requests.get(mock_url + "/health", timeout=10).json()["version"] == "v2.7.12"
