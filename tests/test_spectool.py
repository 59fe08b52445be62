"""openapi/spectool.py: the spec is derived from the committed upstream contract, offline,
and guarded against drift."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from openapi import extraction, spectool
from openapi.extraction import NAMED_MAPS, PROSE_KEYS
from openapi.overlay import apply_overlay, compatibility_problems
from tests.support.upstream_like import (
    INVENTED_PROSE,
    committed_extract,
    full_document,
    use_openapi_copy,
)


@pytest.fixture(scope="module")
def built() -> tuple[Any, Any]:
    extracted = committed_extract()
    return extracted, spectool.derive(extracted)


@pytest.fixture
def openapi_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_openapi_copy(tmp_path, monkeypatch)


def prose_keys_in(node: Any, named: bool = False) -> list[str]:
    if isinstance(node, dict):
        found = [key for key in node if not named and key in PROSE_KEYS]
        for key, value in node.items():
            found += prose_keys_in(value, named=(not named and key in NAMED_MAPS))
        return found
    if isinstance(node, list):
        return [key for item in node for key in prose_keys_in(item)]
    return []


def test_committed_spec_is_what_build_produces(built: tuple[Any, Any]) -> None:
    assert spectool.SPEC.read_text(encoding="utf-8") == spectool.render(built[1])


def test_check_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert spectool.main(["check"]) == 0, capsys.readouterr().err


def test_committed_extract_matches_the_digests_of_the_recorded_upstream() -> None:
    record = json.loads(spectool.RECORD.read_text(encoding="utf-8"))
    extracted = committed_extract()
    assert spectool.digest_problems(extracted, record) == []
    assert set(record["served_operations"].values()) == set(extraction.SERVED_OPERATIONS)
    # Every upstream operation has a digest, not only the served ones.
    assert len(record["operation_digests"]) > 100
    assert len(record["sha256"]) == 64 and record["url"].startswith("https://")


def test_extraction_of_an_upstream_like_document_yields_the_committed_extract() -> None:
    doc = full_document()
    extracted = extraction.strip_prose(extraction.extract(doc))
    assert extracted == committed_extract()
    assert INVENTED_PROSE not in yaml.safe_dump(extracted)
    assert "ListWidgets" not in json.dumps(extracted)


def test_digests_agree_between_full_document_and_extract() -> None:
    doc = full_document()
    full = extraction.operation_digests(doc)
    served = extraction.operation_digests(committed_extract())
    assert served.items() <= full.items()
    assert {"GET /api/v2/widgets", "POST /api/v2/widgets", "DELETE /api/v2/gadgets/{id}"} <= set(
        full
    )


def test_digest_changes_with_a_referenced_schema_not_with_prose() -> None:
    doc = full_document()
    before = extraction.operation_digests(doc)
    doc["components"]["schemas"]["Widget"]["description"] = "other words"
    doc["paths"]["/api/v2/widgets"]["get"]["summary"] = "other words"
    assert extraction.operation_digests(doc) == before
    doc["components"]["schemas"]["Widget"]["properties"]["size"]["type"] = "number"
    after = extraction.operation_digests(doc)
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {"GET /api/v2/widgets", "POST /api/v2/widgets"}


def test_no_upstream_prose_in_the_extract_or_the_served_spec(built: tuple[Any, Any]) -> None:
    extracted, spec = built
    assert prose_keys_in(extracted) == []
    # The served spec's prose is the overlay's own: removing it leaves no prose at all.
    overlay = yaml.safe_load(spectool.OVERLAY.read_text(encoding="utf-8"))
    assert prose_keys_in(apply_overlay(extracted, extraction.strip_prose(overlay))) == []
    assert "example" not in spec["components"]["parameters"]["TraceSpan"]


def test_a_property_named_like_a_prose_keyword_survives_stripping() -> None:
    schema = {"properties": {"description": {"type": "string", "description": "x"}}}
    assert extraction.strip_prose(schema) == {"properties": {"description": {"type": "string"}}}


def test_served_operations_keep_upstream_structure(built: tuple[Any, Any]) -> None:
    extracted, spec = built
    operations = {
        (path, method): op["operationId"]
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    assert operations == {
        ("/metrics", "get"): "GetMetrics",
        ("/health", "get"): "GetHealth",
        ("/ready", "get"): "GetReady",
        ("/ping", "get"): "GetPing",
        ("/ping", "head"): "HeadPing",
        ("/metrics", "head"): "HeadMetrics",
        ("/health", "head"): "HeadHealth",
        ("/ready", "head"): "HeadReady",
    }
    upstream_error = extracted["components"]["schemas"]["Error"]
    assert spec["components"]["schemas"]["Error"]["required"] == upstream_error["required"]
    assert "unsupported media type" in spec["components"]["schemas"]["ErrorCode"]["enum"]
    assert spec["components"]["parameters"]["TraceSpan"]["name"] == "Zap-Trace-Span"
    assert compatibility_problems(extracted, spec) == []


def test_project_additions_come_from_the_overlay(built: tuple[Any, Any]) -> None:
    extracted, spec = built
    metrics = spec["paths"]["/metrics"]["get"]
    assert "application/openmetrics-text" in metrics["responses"]["200"]["content"]
    assert {"$ref": "#/components/parameters/MetricFamilyNames"} in metrics["parameters"]
    assert (
        "406" in metrics["responses"]
        and "406" not in extracted["paths"]["/metrics"]["get"]["responses"]
    )


def _problems_after(built: tuple[Any, Any], change: Any) -> list[str]:
    extracted, spec = built
    broken = copy.deepcopy(spec)
    change(broken)
    return compatibility_problems(extracted, broken)


def test_removed_trace_span_parameter_is_caught(built: tuple[Any, Any]) -> None:
    def drop(spec: Any) -> None:
        spec["paths"]["/health"]["get"]["parameters"] = []

    assert any("Zap-Trace-Span" in p for p in _problems_after(built, drop))


def test_narrowed_request_parameter_is_caught(built: tuple[Any, Any]) -> None:
    def narrow(spec: Any) -> None:
        spec["components"]["parameters"]["TraceSpan"]["schema"]["maxLength"] = 10

    # Upstream declares the header on these three; the overlay adds it to /ping.
    assert _problems_after(built, narrow) == [
        f"GET {path}: header parameter Zap-Trace-Span: maxLength 10 set "
        "(requests clients send may now be refused)"
        for path in ("/metrics", "/health", "/ready")
    ]


def test_changed_type_is_caught(built: tuple[Any, Any]) -> None:
    def change(spec: Any) -> None:
        spec["components"]["schemas"]["Ready"]["properties"]["up"]["type"] = "integer"

    assert any("type changed from string to integer" in p for p in _problems_after(built, change))


def test_newly_required_input_is_caught(built: tuple[Any, Any]) -> None:
    def require(spec: Any) -> None:
        spec["components"]["parameters"]["MetricFamilyNames"]["required"] = True

    assert any("name[]: added (required)" in p for p in _problems_after(built, require))


def test_removed_success_response_and_property_are_caught(built: tuple[Any, Any]) -> None:
    def remove(spec: Any) -> None:
        del spec["paths"]["/ready"]["get"]["responses"]["200"]
        del spec["components"]["schemas"]["HealthCheck"]["properties"]["commit"]

    problems = _problems_after(built, remove)
    assert "GET /ready: response 200: removed" in " ".join(problems)
    assert any("property commit removed" in p for p in problems)


def test_operation_renamed_by_the_overlay_is_caught(built: tuple[Any, Any]) -> None:
    def rename(spec: Any) -> None:
        spec["paths"]["/health"]["get"]["operationId"] = "Health"

    assert _problems_after(built, rename) == [
        'GET /health: operation: operationId changed from "GetHealth" to "Health" '
        "(generated method names change)"
    ]


def test_error_code_keeps_its_values_through_the_ref_alone(built: tuple[Any, Any]) -> None:
    extracted, spec = built
    upstream_code = extracted["components"]["schemas"]["Error"]["properties"]["code"]
    assert set(upstream_code) == {"$ref", "enum", "type", "readOnly"}
    assert spec["components"]["schemas"]["Error"]["properties"]["code"] == {
        "$ref": "#/components/schemas/ErrorCode"
    }
    assert spec["components"]["schemas"]["ErrorCode"]["enum"] == upstream_code["enum"]


def test_overlay_merge_rules() -> None:
    base = {"a": {"b": 1, "c": 2}, "tags": [{"name": "x"}], "params": [{"$ref": "#/p"}]}
    overlay = {
        "a": {"b": 10, "c": None},
        "tags": [{"name": "x", "description": "d"}, {"name": "y"}],
        "params": [{"$ref": "#/p"}, {"$ref": "#/q"}],
    }
    assert apply_overlay(base, overlay) == {
        "a": {"b": 10},
        "tags": [{"name": "x", "description": "d"}, {"name": "y"}],
        "params": [{"$ref": "#/p"}, {"$ref": "#/q"}],
    }


def test_build_writes_the_spec_from_the_committed_files_alone(
    openapi_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = openapi_copy / "openapi.yaml"
    committed = spec.read_text(encoding="utf-8")
    spec.write_text("stale\n", encoding="utf-8")
    assert spectool.main(["build"]) == 0, capsys.readouterr().err
    assert spec.read_text(encoding="utf-8") == committed


def test_check_fails_on_a_stale_committed_spec(
    openapi_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = openapi_copy / "openapi.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("2.x", "3.x", 1))
    assert spectool.main(["check"]) == 1
    assert "openapi.yaml is not what `make spec` produces" in capsys.readouterr().err


def test_check_fails_on_a_hand_edited_extract(
    openapi_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extracted = committed_extract()
    extracted["components"]["schemas"]["HealthCheck"]["properties"]["status"]["enum"].append("warn")
    spectool.EXTRACT.write_text(spectool.render_extract(extracted, "MIT"), encoding="utf-8")
    assert spectool.main(["build"]) == 0
    assert spectool.main(["check"]) == 1
    assert "take upstream in with `make spec-update`" in capsys.readouterr().err
