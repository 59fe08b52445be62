"""Every package stands alone: each wheel of `make dist` installs alone into an empty
virtualenv, every program it declares runs, no file ships in two wheels, and the service
and the client tool do not need each other."""

from __future__ import annotations

import configparser
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.support.wheels import build_wheels, install_alone
from tools.live import LiveServer

pytestmark = pytest.mark.slow  # builds four wheels and four virtualenvs

DISTRIBUTIONS = {
    "influxdb_sysinfo": ("influxdb-sysinfo", {"influxdb-sysinfo"}),
    "influxdb_sysinfo_contract": ("influxdb-sysinfo-contract", set()),
    "influxdb_sysinfo_client": ("influxdb-sysinfo-client", set()),
    "influx_metrics": ("influx-metrics", {"influx-metrics"}),
}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    built = build_wheels(tmp_path_factory.mktemp("dist"))
    assert set(built) == set(DISTRIBUTIONS)
    return built


def files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if ".dist-info/" not in name}


def programs(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        if not names:
            return set()
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(names[0]).decode())
    return set(entry_points["console_scripts"]) if "console_scripts" in entry_points else set()


def imports(python: Path, module: str) -> bool:
    probe = f"import importlib.util as u; print(u.find_spec({module!r}) is not None)"
    # Run outside the checkout, whose own impl/ would otherwise be found first.
    found = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=True, cwd=python.parent
    )
    return found.stdout.strip() == "True"


def test_no_file_ships_in_two_wheels(wheels: dict[str, Path]) -> None:
    seen: dict[str, str] = {}
    for name, wheel in wheels.items():
        for path in files(wheel):
            assert path not in seen, f"{path} is in {seen[path]} and {name}"
            seen[path] = name
    # The reviewed spec ships once, with the contract; the service carries the generator's
    # copy only for the names of its controllers.
    assert "sysinfo_contract/openapi.yaml" in files(wheels["influxdb_sysinfo_contract"])
    assert "impl/client/conform/runner.py" in files(wheels["influx_metrics"])
    assert not [
        path for path in files(wheels["influxdb_sysinfo"]) if path.startswith("impl/client")
    ]


@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
def test_each_wheel_installs_alone_and_its_programs_run(
    wheels: dict[str, Path], distribution: str, tmp_path: Path
) -> None:
    project, expected_programs = DISTRIBUTIONS[distribution]
    wheel = wheels[distribution]
    assert programs(wheel) == expected_programs
    python = install_alone(wheel, tmp_path / "venv")
    for program in expected_programs:
        path = python.parent / program
        shown = subprocess.run(
            [str(path), "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert shown.returncode == 0 and "usage:" in shown.stdout, shown.stderr
        version = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert (version.returncode, version.stdout) == (0, f"{program} 0.1.0\n"), version.stderr


def test_the_service_and_the_client_tool_do_not_need_each_other(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    service = install_alone(wheels["influxdb_sysinfo"], tmp_path / "service")
    # Nothing of the client side, nor conform's schema validator, in the service's runtime.
    for module in ("impl.client", "sysinfo_client", "openapi_schema_validator"):
        assert not imports(service, module), module
    assert imports(service, "sysinfo_contract.names")

    tool = install_alone(wheels["influx_metrics"], tmp_path / "tool")
    for module in ("impl.server", "impl.metrics", "sysinfo_server", "connexion", "uvicorn"):
        assert not imports(tool, module), module
    # The tool alone judges a live service by the spec it carries.
    (tmp_path / "state").mkdir()
    with LiveServer(tmp_path / "state") as live:
        judged = subprocess.run(
            [str(tool.parent / "influx-metrics"), "conform", live.url],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
    assert judged.returncode == 0, judged.stdout + judged.stderr
    assert "spec.get-metrics.body" in judged.stdout and "spec.head-ready.status" in judged.stdout
