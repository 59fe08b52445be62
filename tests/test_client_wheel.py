"""`make dist`'s client wheel is a package someone else can install: alone in an empty
virtualenv, with real metadata, its README example calls every operation of a live
service."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tools.live import LiveServer

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
WHEELHOUSE = VENV / "wheelhouse"
CLIENT = "influxdb-sysinfo-client"
PLACEHOLDERS = ("GIT_USER_ID", "GIT_REPO_ID", "OpenAPI Generator Community", "openapitools.org")
SERVED = {("GET", "/metrics"), ("GET", "/health"), ("GET", "/ready"), ("GET", "/ping"),
          ("HEAD", "/ping")}  # fmt: skip

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
    with (ROOT / "generated" / "client" / "pyproject.toml").open("rb") as handle:
        assert tomllib.load(handle)["project"]["version"] == version


def build_wheels(dist: Path) -> dict[str, Path]:
    built = subprocess.run(
        ["make", "--no-print-directory", f"DIST={dist}", "-o", f"{VENV}/.installed", "dist"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    return {wheel.name.split("-")[0]: wheel for wheel in dist.glob("*.whl")}


def install_alone(wheel: Path, target: Path) -> Path:
    """An empty virtualenv with `wheel` and its dependencies, from the wheelhouse only."""
    assert WHEELHOUSE.is_dir(), "no wheelhouse: run `make setup`"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-index", "--find-links", str(WHEELHOUSE), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return python


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
    assert set(wheels) == {"influxdb_sysinfo", "influxdb_sysinfo_client"}
    # The service's wheel carries the generated server package, spec included.
    with zipfile.ZipFile(wheels["influxdb_sysinfo"]) as service_wheel:
        carried = set(service_wheel.namelist())
    assert {"impl/main.py", "impl/server/app.py", "sysinfo_server/openapi/openapi.yaml"} <= carried
    assert "sysinfo_server/controllers/health_controller.py" in carried
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
    assert lines[3] == "GET /health: influxdb pass v2.7.12"
    assert lines[4].startswith("GET /metrics: influxdb_info{") and "v2.7.12" in lines[4]
