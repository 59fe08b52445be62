"""A client in another language: the typescript-fetch client `make typescript-client`
generates from openapi/openapi.yaml compiles with `tsc --strict` and calls every
operation of a live service, in token-protected mode too, reading the identity headers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StartServer
from tests.support.node import ROOT, node_tool

pytestmark = pytest.mark.slow  # the generator, the compiler and node

PROGRAM = ROOT / "tests" / "typescript"
VENV = Path(sys.prefix)
TOKEN = "ts-client-token"
OPERATIONS = [
    "GetPing", "HeadPing", "GetReady", "HeadReady",
    "GetHealth", "HeadHealth", "GetMetrics", "HeadMetrics",
]  # fmt: skip


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated client and the program calling it, compiled with tsc --strict."""
    work = tmp_path_factory.mktemp("typescript")
    generated = subprocess.run(
        ["make", "--no-print-directory", "-o", f"{VENV}/.installed", "typescript-client",
         f"TS_CLIENT={work / 'client'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    for name in ("every_operation.ts", "tsconfig.json"):
        shutil.copy(PROGRAM / name, work / name)
    compiled = subprocess.run(
        [node_tool("tsc"), "--strict", "--project", str(work)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return work / "dist" / "every_operation.js"


def call_every_operation(program: Path, url: str, *token: str) -> dict[str, dict[str, Any]]:
    ran = subprocess.run(
        ["node", str(program), url, *token], capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    answers = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [answer["call"] for answer in answers] == OPERATIONS
    for answer in answers:
        assert (answer["build"], answer["version"]) == ("OSS", "v2.7.12"), answer
    return {answer["call"]: answer for answer in answers}


def test_every_operation_of_a_public_service(program: Path, start_server: StartServer) -> None:
    live = start_server()
    answers = call_every_operation(program, live.url)
    statuses = {call: answer["status"] for call, answer in answers.items()}
    assert statuses == {call: 204 if "Ping" in call else 200 for call in OPERATIONS}
    assert answers["GetHealth"]["body"] == {"status": "pass", "version": "v2.7.12"}
    assert answers["GetReady"]["body"]["status"] == "ready"
    assert answers["GetReady"]["body"]["started"].endswith("Z")
    assert answers["GetMetrics"]["body"].startswith("# HELP influxdb_info ")


def test_token_mode_with_the_right_token_a_wrong_one_and_none(
    program: Path, start_server: StartServer
) -> None:
    live = start_server(env={"INFLUXDB_SYSINFO_TOKENS": TOKEN})
    right = call_every_operation(program, live.url, TOKEN)
    assert right["GetMetrics"]["status"] == 200
    assert "influxdb_info{" in right["GetMetrics"]["body"]
    for token in (["not-the-token"], []):
        refused = call_every_operation(program, live.url, *token)
        assert refused["GetMetrics"]["status"] == 401
        assert refused["GetMetrics"]["body"] == {
            "code": "unauthorized",
            "message": "unauthorized access",
        }
        assert refused["HeadMetrics"]["status"] == 401
        # Only /metrics is protected unless --protect-system-endpoints.
        assert refused["GetHealth"]["status"] == 200
