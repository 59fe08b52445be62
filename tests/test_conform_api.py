"""conform where contract tests live: the Python API (`run_conform`) and the pytest
plugin (`pytest --influx-conform=URL`), against the servers of conform_defects.py."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from impl.client.conform import Conformance, Level, Outcome, run_conform
from tests.support.conform_defects import DEFECTS, Defect, influxd_server

TOKEN = "plugin-token"
PLUGIN = "influx_conform"


def defect(name: str) -> Defect:
    [found] = [d for d in DEFECTS if d.name == name]
    return found


def test_run_conform_returns_the_verdict_and_every_result() -> None:
    with influxd_server() as server:
        report = run_conform(server.url)
        broken = None
        with influxd_server(defect("405 without Allow")) as other:
            broken = run_conform(other.url, only=["spec.*"], skip=["spec.get-*"])
    assert report.conformance is Conformance.CONFORMANT and report.exit_status == 0
    assert report.with_outcome(Outcome.FAIL) == [] and report.missing == []
    assert {r.check.level for r in report.results} == set(Level)
    assert broken.conformance is Conformance.NOT_CONFORMANT and broken.exit_status == 1
    assert [r.check.id for r in broken.blocking] == ["spec.wrong-method.allow"]
    assert all(r.check.id.startswith("spec.") for r in broken.results)
    assert not any(r.check.id.startswith("spec.get-") for r in broken.results)
    assert "spec.get-ping.status" in broken.deselected


def test_run_conform_says_incomplete_and_allows_it() -> None:
    with influxd_server(token=TOKEN) as server:
        report = run_conform(server.url)
        allowed = run_conform(server.url, allow_incomplete=True)
        with_token = run_conform(server.url, token=TOKEN)
    assert report.conformance is Conformance.INCOMPLETE and report.exit_status == 4
    assert report.missing and all(r.outcome is Outcome.NOT_RUN for r in report.missing)
    assert allowed.conformance is Conformance.INCOMPLETE and allowed.exit_status == 0
    assert with_token.conformance is Conformance.CONFORMANT


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("ftp://127.0.0.1:1", {}, "invalid URL"),
        ("http://127.0.0.1:1", {"token": "a b"}, "token"),
        ("http://127.0.0.1:1", {"only": ["no.such.check"]}, "no check id or level matches"),
        ("http://127.0.0.1:1", {"skip": ["sometimes"]}, "'sometimes'"),
    ],
)
def test_run_conform_refuses_what_it_cannot_run_before_sending(
    url: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run_conform(url, **options)  # type: ignore[arg-type]


def pytest_in(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a directory of its own, as a project that installed the package runs it."""
    environment = {k: v for k, v in os.environ.items() if k != "INFLUX_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )


def junit_cases(path: Path) -> dict[str, str]:
    """testcase name -> outcome (passed, failure, skipped, error)."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "skipped", "error")]
        cases[case.get("name", "")] = kinds[0] if kinds else "passed"
    return cases


def test_the_plugin_is_registered_and_adds_no_test_here(
    pytestconfig: pytest.Config, request: pytest.FixtureRequest
) -> None:
    """In this repository's own run, without the option: the entry point loaded it,
    and it added nothing to the tests."""
    assert pytestconfig.pluginmanager.has_plugin(PLUGIN)
    assert pytestconfig.getoption("influx_conform") is None
    assert all(item.nodeid.startswith("tests/") for item in request.session.items)


@pytest.mark.slow  # pytest processes of their own
def test_without_its_option_the_plugin_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_one() -> None:\n    pass\n", encoding="utf-8")
    run = pytest_in(tmp_path, "-q", "--markers")
    assert run.returncode == 0 and "@pytest.mark.must" not in run.stdout
    plain = pytest_in(tmp_path, "-q", "--junitxml", "plain.xml")
    without = pytest_in(tmp_path, "-q", "-p", f"no:{PLUGIN}", "--junitxml", "without.xml")
    assert plain.returncode == without.returncode == 0
    assert junit_cases(tmp_path / "plain.xml") == junit_cases(tmp_path / "without.xml")


@pytest.mark.slow  # pytest processes of their own
def test_the_plugin_makes_one_test_per_check_with_levels_as_markers(tmp_path: Path) -> None:
    with influxd_server() as server:
        everything = pytest_in(tmp_path, f"--influx-conform={server.url}", "--junitxml=all.xml")
        musts = pytest_in(tmp_path, f"--influx-conform={server.url}", "-m", "must",
                          "--junitxml=must.xml")  # fmt: skip
        report = run_conform(server.url)
    assert everything.returncode == 0, everything.stdout
    cases = junit_cases(tmp_path / "all.xml")
    assert cases == {
        r.check.id: {Outcome.PASS: "passed", Outcome.SKIP: "skipped"}[r.outcome]
        for r in report.results
    }
    assert musts.returncode == 0, musts.stdout
    assert set(junit_cases(tmp_path / "must.xml")) == {
        r.check.id for r in report.results if r.check.level is Level.MUST
    }


@pytest.mark.slow  # pytest processes of their own
def test_the_plugin_fails_where_the_command_would(tmp_path: Path) -> None:
    with influxd_server(defect("500 for a malformed Zap-Trace-Span")) as server:
        must = pytest_in(tmp_path, f"--influx-conform={server.url}", "--junitxml=must.xml")
    assert must.returncode == 1
    failed = {n for n, kind in junit_cases(tmp_path / "must.xml").items() if kind == "failure"}
    assert failed == {"spec.trace-span.no-effect"}
    assert "spec.trace-span.no-effect [MUST]" in must.stdout and "rule:" in must.stdout

    with influxd_server(defect("no X-Influxdb-Version")) as server:
        lenient = pytest_in(tmp_path, f"--influx-conform={server.url}", "-rx")
        strict = pytest_in(tmp_path, f"--influx-conform={server.url}", "--influx-conform-strict")
    assert lenient.returncode == 0 and "1 xfailed" in lenient.stdout, lenient.stdout
    assert strict.returncode == 1 and "1 failed" in strict.stdout, strict.stdout

    with influxd_server(token=TOKEN) as server:
        incomplete = pytest_in(tmp_path, f"--influx-conform={server.url}", "--junitxml=401.xml")
        allowed = pytest_in(tmp_path, f"--influx-conform={server.url}",
                            "--influx-conform-allow-incomplete")  # fmt: skip
        given = pytest_in(tmp_path, f"--influx-conform={server.url}",
                          f"--influx-conform-token={TOKEN}")  # fmt: skip
    assert incomplete.returncode == 1 and "did not run: needs a token" in incomplete.stdout
    assert "failure" in junit_cases(tmp_path / "401.xml").values()
    assert allowed.returncode == 0 and "failed" not in allowed.stdout, allowed.stdout
    assert given.returncode == 0 and "failed" not in given.stdout, given.stdout
