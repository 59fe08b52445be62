"""`make dist`'s client wheel is a package someone else can install: alone in an empty
virtualenv, with real metadata, its README example calls every operation of a live
service."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.wheels import ROOT, build_wheels, install_alone
from tools.live import LiveServer

CLIENT = "influxdb-sysinfo-client"
PLACEHOLDERS = ("GIT_USER_ID", "GIT_REPO_ID", "OpenAPI Generator Community", "openapitools.org")
SERVED = {(method, path) for method in ("GET", "HEAD")
          for path in ("/metrics", "/health", "/ready", "/ping")}  # fmt: skip

READ_METADATA = """
import importlib.metadata, json
meta = importlib.metadata.metadata("influxdb-sysinfo-client")
print(json.dumps({"fields": {k: meta.get_all(k) for k in set(meta.keys())},
                  "text": str(meta), "readme": meta.get_payload()}))
"""


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        version: str = tomllib.load(handle)["project"]["version"]
        return version


def test_generated_packages_carry_the_project_version() -> None:
    version = project_version()
    for config in ("client.yaml", "server.yaml"):
        settings = yaml.safe_load((ROOT / "openapi" / "generator" / config).read_text())
        assert settings["additionalProperties"]["packageVersion"] == version, config
    for folder in ("generated/client", "contract", "influx-metrics"):
        with (ROOT / folder / "pyproject.toml").open("rb") as handle:
            project = tomllib.load(handle)["project"]
        assert project["version"] == version, folder
        # The project's own dependencies at exactly this version: they ship together.
        ours = [d for d in project.get("dependencies", []) if d.startswith("influxdb-sysinfo")]
        assert all(d.endswith(f"=={version}") for d in ours), folder


def requests_by_operation(exposition: str) -> Counter[tuple[str, str]]:
    """Requests the service counted, by method and route, except this test's own."""
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(exposition):
        if family.name != "http_api_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels["user_agent"] != "python-requests":
                counts[(sample.labels["method"], sample.labels["path"])] += int(sample.value)
    return counts


@pytest.mark.slow
def test_client_wheel_alone_runs_its_readme_example_against_a_live_service(
    tmp_path: Path,
) -> None:
    wheels = build_wheels(tmp_path / "dist")
    python = install_alone(wheels["influxdb_sysinfo_client"], tmp_path / "venv")

    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "list", "--format=json"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    names = {entry["name"].lower() for entry in json.loads(installed.stdout)}
    assert CLIENT in names
    assert not names & {"influxdb-sysinfo", "connexion", "flask", "prometheus-client"}

    read = subprocess.run([str(python), "-c", READ_METADATA], capture_output=True, text=True)
    assert read.returncode == 0, read.stderr
    metadata = json.loads(read.stdout)
    fields = metadata["fields"]
    assert fields["Name"] == [CLIENT] and fields["Version"] == [project_version()]
    assert fields["License-Expression"] == ["MIT"]
    assert "system-information API" in fields["Summary"][0]
    assert fields["Project-URL"] and all("https://" in url for url in fields["Project-URL"])
    for placeholder in PLACEHOLDERS:
        assert placeholder not in metadata["text"]

    example = re.search(r"## Example.*?```python\n(.*?)```", metadata["readme"], re.S)
    assert example, "the README on the package index shows an example"
    (tmp_path / "service").mkdir()
    with LiveServer(tmp_path / "service") as service:
        ran = subprocess.run(
            [str(python), "-c", example.group(1)],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={"INFLUXDB_URL": service.url, "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        counted = requests_by_operation(requests.get(service.url + "/metrics", timeout=5).text)
    assert set(counted) == SERVED and all(count == 1 for count in counted.values())
    lines = ran.stdout.splitlines()
    assert lines[0] == "GET /ping: 204 v2.7.12"
    assert lines[1] == "HEAD /ping: 204"
    assert lines[2].startswith("GET /ready: ready since ")
    assert lines[3] == "HEAD /ready: 200"
    assert lines[4] == "GET /health: influxdb pass v2.7.12"
    assert lines[5] == "HEAD /health: 200"
    assert lines[6].startswith("GET /metrics: influxdb_info{") and "v2.7.12" in lines[6]
    assert lines[7] == "HEAD /metrics: 200"
