"""`make spec-update` / `spectool.py update` and `diff`: the report in words, refusals
that change nothing, and updates that rewrite the upstream contract."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from openapi import spectool
from tests.support.upstream_like import full_document, snapshot, use_openapi_copy, write

ROOT = Path(__file__).resolve().parents[1]
Capture = pytest.CaptureFixture[str]


@pytest.fixture
def baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> Path:
    """A copy of openapi/ that has taken in the upstream-like document (no contract change)."""
    folder = use_openapi_copy(tmp_path, monkeypatch)
    assert spectool.main(["update", str(write(full_document(), tmp_path / "base.yml"))]) == 0
    capsys.readouterr()
    return folder


def section(report: str, operation_id: str) -> str:
    """The report lines about one served operation."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{operation_id} ("))
    end = start + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    return "\n".join(lines[start:end])


def run_update(
    tmp_path: Path, capsys: Capture, change: Callable[[Any], None], *flags: str
) -> tuple[int, str]:
    doc = full_document()
    change(doc)
    status = spectool.main(["update", str(write(doc, tmp_path / "new.yml")), *flags])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def remove_metrics_200(doc: Any) -> None:
    del doc["paths"]["/metrics"]["get"]["responses"]["200"]


def add_health_query_parameter(doc: Any) -> None:
    parameter = {"name": "verbose", "in": "query", "required": False, "schema": {"type": "boolean"}}
    doc["paths"]["/health"]["get"]["parameters"].append(parameter)


def narrow_ready_up(doc: Any) -> None:
    doc["components"]["schemas"]["Ready"]["properties"]["up"]["maxLength"] = 32


def add_error_code_value(doc: Any) -> None:
    doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"].append("gone")


def change_descriptions(doc: Any) -> None:
    doc["paths"]["/health"]["get"]["description"] = "Reworded."
    doc["components"]["schemas"]["Ready"]["properties"]["up"]["description"] = "Reworded."
    doc["components"]["responses"]["GeneralServerError"]["description"] = "Reworded."


def change_other_operation(doc: Any) -> None:
    doc["paths"]["/api/v2/widgets"]["get"]["parameters"].append(
        {"name": "colour", "in": "query", "schema": {"type": "string"}}
    )


def test_removed_metrics_response_is_breaking_for_both_and_changes_nothing(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    before = snapshot(baseline)
    status, report = run_update(tmp_path, capsys, remove_metrics_200)
    assert status == 1
    assert section(report, "GetMetrics") == (
        "GetMetrics (GET /metrics): 1 change, breaking for clients and for the server\n"
        "  response 200: removed\n"
        "    clients: breaking - the result clients read is no longer declared\n"
        "    server:  breaking - this server still sends it"
    )
    for other in ("GetHealth", "GetReady", "GetPing", "HeadPing"):
        assert section(report, other).endswith(": no change")
    assert "refused: breaking changes" in report and "no file changed" in report
    assert snapshot(baseline) == before


def test_optional_query_parameter_is_compatible_for_clients_breaking_for_the_server(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    before = snapshot(baseline)
    status, report = run_update(tmp_path, capsys, add_health_query_parameter)
    assert status == 1
    assert section(report, "GetHealth") == (
        "GetHealth (GET /health): 1 change, breaking for the server\n"
        "  query parameter verbose: added (optional)\n"
        "    clients: compatible - optional: clients need not send it\n"
        "    server:  breaking - not honoured by this server yet"
    )
    assert section(report, "GetMetrics").endswith(": no change")
    assert snapshot(baseline) == before


def test_allow_breaking_takes_the_change_into_extract_record_and_spec(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    status, report = run_update(tmp_path, capsys, add_health_query_parameter, "--allow-breaking")
    assert status == 0, report
    extract = yaml.safe_load((baseline / "upstream" / "served-operations.yaml").read_text())
    parameters = extract["paths"]["/health"]["get"]["parameters"]
    assert {"name": "verbose", "in": "query", "required": False, "schema": {"type": "boolean"}} in (
        parameters
    )
    spec = yaml.safe_load((baseline / "openapi.yaml").read_text())
    assert any(p.get("name") == "verbose" for p in spec["paths"]["/health"]["get"]["parameters"])
    record = json.loads((baseline / "upstream.json").read_text())
    assert record["sha256"] == hashlib.sha256((tmp_path / "new.yml").read_bytes()).hexdigest()
    assert spectool.main(["check"]) == 0


def test_narrowed_ready_property_is_breaking_for_the_server_only(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    before = snapshot(baseline)
    status, report = run_update(tmp_path, capsys, narrow_ready_up)
    assert status == 1
    assert section(report, "GetReady") == (
        "GetReady (GET /ready): 1 change, breaking for the server\n"
        "  response 200 (application/json), schema Ready.up: maxLength 32 set\n"
        "    clients: compatible - clients receive a subset of what they handle\n"
        "    server:  breaking - this server may send what is no longer allowed"
    )
    assert snapshot(baseline) == before


def test_a_type_changed_in_the_ready_schema_breaks_both(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    def up_as_integer(doc: Any) -> None:
        doc["components"]["schemas"]["Ready"]["properties"]["up"]["type"] = "integer"

    status, report = run_update(tmp_path, capsys, up_as_integer)
    assert status == 1
    assert section(report, "GetReady").splitlines()[1:] == [
        "  response 200 (application/json), schema Ready.up: type changed from string to integer",
        "    clients: breaking - values valid before may be invalid now",
        "    server:  breaking - values valid before may be invalid now",
    ]


def test_error_code_value_added_is_breaking_for_clients_compatible_for_the_server(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    before = snapshot(baseline)
    status, report = run_update(tmp_path, capsys, add_error_code_value)
    assert status == 1
    expected = (
        '  response default (application/json), schema Error.code: enum value "gone" added\n'
        "    clients: breaking - clients may receive what they were not told to expect\n"
        "    server:  compatible - what this server sends stays valid"
    )
    # Upstream's error response is declared (as `default`) on three served operations.
    for operation in ("GetMetrics", "GetHealth", "GetReady"):
        assert expected in section(report, operation)
    for operation in ("GetPing", "HeadPing"):
        assert section(report, operation).endswith(": no change")
    assert "for clients: 3, for the server: 0" in report
    assert snapshot(baseline) == before


def test_description_changes_only_are_no_change_to_the_contract(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    before = snapshot(baseline)
    status, report = run_update(tmp_path, capsys, change_descriptions)
    assert status == 0
    assert "No change to the contract of the served operations." in report
    assert "Other upstream operations: 0 changed, 0 added, 0 removed, 3 unchanged." in report
    after = snapshot(baseline)
    # Only the provenance moves: the document's sha256 is new.
    assert {name for name in after if after[name] != before[name]} == {"upstream.json"}


def test_a_change_elsewhere_upstream_is_one_summary_line(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    before = snapshot(baseline)
    status, report = run_update(tmp_path, capsys, change_other_operation)
    assert status == 0
    assert "Other upstream operations: 1 changed, 0 added, 0 removed, 2 unchanged." in report
    assert "colour" not in report and "widgets" not in report
    assert "No change to the contract of the served operations." in report
    after = snapshot(baseline)
    assert after["upstream/served-operations.yaml"] == before["upstream/served-operations.yaml"]
    assert after["openapi.yaml"] == before["openapi.yaml"]


def test_what_the_overlay_already_serves_does_not_break_the_server(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    def declare_unauthorized(doc: Any) -> None:
        doc["paths"]["/health"]["get"]["responses"]["401"] = {
            "$ref": "#/components/responses/GeneralServerError"
        }

    status, report = run_update(tmp_path, capsys, declare_unauthorized)
    assert status == 0, report
    assert section(report, "GetHealth") == (
        "GetHealth (GET /health): 1 change, compatible\n"
        "  response 401: added\n"
        "    clients: compatible - covered by the default response clients already handle\n"
        "    server:  compatible - already served here (overlay.yaml)"
    )


def test_an_overlay_that_no_longer_applies_refuses_even_when_breaking_is_allowed(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    def drop_trace_span(doc: Any) -> None:
        for item in doc["paths"].values():
            for operation in item.values():
                if isinstance(operation, dict):
                    operation.pop("parameters", None)
        del doc["components"]["parameters"]["TraceSpan"]

    before = snapshot(baseline)
    status, report = run_update(tmp_path, capsys, drop_trace_span, "--allow-breaking")
    assert status == 1
    assert "header parameter Zap-Trace-Span: removed" in report
    assert "overlay.yaml no longer applies" in report
    assert snapshot(baseline) == before


def test_a_served_operation_missing_upstream_is_refused(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    def drop_ready(doc: Any) -> None:
        del doc["paths"]["/ready"]

    before = snapshot(baseline)
    status, report = run_update(tmp_path, capsys, drop_ready, "--allow-breaking")
    assert status == 1
    assert "GetReady (GET /ready): 1 change" in report and "removed upstream" in report
    assert "upstream no longer defines GET /ready" in report
    assert snapshot(baseline) == before


def test_an_operation_renamed_upstream_is_reported_and_taken_in_when_allowed(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    def rename_ready(doc: Any) -> None:
        doc["paths"]["/ready"]["get"]["operationId"] = "GetReadiness"

    before = snapshot(baseline)
    status, report = run_update(tmp_path, capsys, rename_ready)
    assert status == 1 and snapshot(baseline) == before
    assert section(report, "GetReady") == (
        "GetReady (GET /ready): 1 change, breaking for clients and for the server\n"
        '  operation: operationId changed from "GetReady" to "GetReadiness"\n'
        "    clients: breaking - generated method names change\n"
        "    server:  breaking - the generated controller calls the handler of the new name"
    )
    status, report = run_update(tmp_path, capsys, rename_ready, "--allow-breaking")
    assert status == 0, report
    served = yaml.safe_load((baseline / "openapi.yaml").read_text(encoding="utf-8"))
    assert served["paths"]["/ready"]["get"]["operationId"] == "GetReadiness"


def test_a_document_that_is_not_openapi_3_is_unusable_input(
    baseline: Path, tmp_path: Path, capsys: Capture
) -> None:
    before = snapshot(baseline)
    swagger = tmp_path / "swagger.yml"
    swagger.write_text("swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n")
    assert spectool.main(["update", str(swagger)]) == 2
    assert "is not an OpenAPI 3 document" in capsys.readouterr().err
    assert spectool.main(["update", str(tmp_path / "absent.yml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert snapshot(baseline) == before


def test_diff_reports_without_writing(baseline: Path, tmp_path: Path, capsys: Capture) -> None:
    before = snapshot(baseline)
    old = write(full_document(), tmp_path / "old.yml")
    doc = full_document()
    add_error_code_value(doc)
    change_other_operation(doc)
    new = write(doc, tmp_path / "changed.yml")
    assert spectool.main(["diff", str(old), str(new)]) == 1
    report = capsys.readouterr().out
    assert 'schema Error.code: enum value "gone" added' in section(report, "GetHealth")
    assert "Other upstream operations: 1 changed, 0 added, 0 removed, 2 unchanged." in report
    assert spectool.main(["diff", str(old), str(old)]) == 0
    assert "The same document." in capsys.readouterr().out
    assert snapshot(baseline) == before


@pytest.mark.slow  # make, twice, in a copy of the repository
def test_make_spec_update_refuses_a_breaking_document_and_takes_in_a_prose_change(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy2(ROOT / "Makefile", repo / "Makefile")
    shutil.copytree(
        ROOT / "openapi", repo / "openapi", ignore=shutil.ignore_patterns("__pycache__")
    )
    venv = Path(sys.prefix)

    def make(*args: str) -> subprocess.CompletedProcess[str]:
        # -o: the project's .venv is ready; make must not rebuild it for this copy.
        return subprocess.run(
            ["make", "--no-print-directory", f"VENV={venv}", "-o", f"{venv}/.installed", *args],
            cwd=repo, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip

    base = write(full_document(), tmp_path / "base.yml")
    assert make("spec-update", f"UPSTREAM={base}").returncode == 0
    before = snapshot(repo / "openapi")
    doc = full_document()
    remove_metrics_200(doc)
    broken = make("spec-update", f"UPSTREAM={write(doc, tmp_path / 'broken.yml')}")
    assert broken.returncode != 0
    assert "  response 200: removed" in broken.stdout
    assert snapshot(repo / "openapi") == before

    doc = full_document()
    change_descriptions(doc)
    reworded = make("spec-update", f"UPSTREAM={write(doc, tmp_path / 'reworded.yml')}")
    assert reworded.returncode == 0, reworded.stderr
    assert "No change to the contract of the served operations." in reworded.stdout
    assert make("check-spec").returncode == 0
