"""openapi/spectool.py: the spec is derived from upstream, and guarded against drift."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from openapi import spectool

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream" / "influxdb-oss-v2-api.yml"


@pytest.fixture(scope="module")
def built() -> tuple[Any, Any, Any]:
    raw = UPSTREAM.read_bytes()
    return spectool.build(raw, UPSTREAM.name)


def test_committed_spec_is_what_build_produces(built: tuple[Any, Any, Any]) -> None:
    _, spec, source = built
    assert spectool.SPEC.read_text(encoding="utf-8") == spectool.render(spec)
    assert spectool.SOURCE.read_text(encoding="utf-8") == spectool.render_source(source)


def test_served_operations_keep_upstream_structure(built: tuple[Any, Any, Any]) -> None:
    extracted, spec, _ = built
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
    }
    upstream_error = extracted["components"]["schemas"]["Error"]
    assert spec["components"]["schemas"]["Error"]["required"] == upstream_error["required"]
    assert "unsupported media type" in spec["components"]["schemas"]["ErrorCode"]["enum"]
    assert spec["components"]["parameters"]["TraceSpan"]["name"] == "Zap-Trace-Span"
    assert spectool.compatibility_problems(extracted, spec) == []


def test_upstream_prose_is_not_carried_over(built: tuple[Any, Any, Any]) -> None:
    text = spectool.render(built[1])
    for upstream_sentence in (
        "Returns the health of the instance.",
        "Retrieve workload performance metrics",
        "Non 2XX error response from server.",
        "code is the machine-readable error code.",
    ):
        assert upstream_sentence not in text
    assert "example" not in yaml.safe_load(text)["components"]["parameters"]["TraceSpan"]


def test_project_additions_come_from_the_overlay(built: tuple[Any, Any, Any]) -> None:
    extracted, spec, _ = built
    metrics = spec["paths"]["/metrics"]["get"]
    assert "application/openmetrics-text" in metrics["responses"]["200"]["content"]
    assert {"$ref": "#/components/parameters/MetricFamilyNames"} in metrics["parameters"]
    assert (
        "406" in metrics["responses"]
        and "406" not in extracted["paths"]["/metrics"]["get"]["responses"]
    )


def _problems_after(built: tuple[Any, Any, Any], change: Any) -> list[str]:
    extracted, spec, _ = built
    broken = copy.deepcopy(spec)
    change(broken)
    return spectool.compatibility_problems(extracted, broken)


def test_removed_trace_span_parameter_is_caught(built: tuple[Any, Any, Any]) -> None:
    def drop(spec: Any) -> None:
        spec["paths"]["/health"]["get"]["parameters"] = []

    assert any("Zap-Trace-Span" in p for p in _problems_after(built, drop))


def test_removed_error_code_enum_value_is_caught(built: tuple[Any, Any, Any]) -> None:
    def drop(spec: Any) -> None:
        spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"].remove("not found")

    assert any("enum values removed" in p for p in _problems_after(built, drop))


def test_narrowed_type_is_caught(built: tuple[Any, Any, Any]) -> None:
    def narrow(spec: Any) -> None:
        spec["components"]["schemas"]["Ready"]["properties"]["up"]["type"] = "integer"

    assert any("type narrowed" in p for p in _problems_after(built, narrow))


def test_newly_required_input_is_caught(built: tuple[Any, Any, Any]) -> None:
    def require(spec: Any) -> None:
        spec["components"]["parameters"]["MetricFamilyNames"]["required"] = True

    assert any("new required parameter" in p for p in _problems_after(built, require))


def test_removed_response_and_property_are_caught(built: tuple[Any, Any, Any]) -> None:
    def remove(spec: Any) -> None:
        del spec["paths"]["/health"]["get"]["responses"]["503"]
        del spec["components"]["schemas"]["HealthCheck"]["properties"]["commit"]

    problems = _problems_after(built, remove)
    assert any("response 503 removed" in p for p in problems)
    assert any("property 'commit' removed" in p for p in problems)


def test_overlay_merge_rules() -> None:
    base = {"a": {"b": 1, "c": 2}, "tags": [{"name": "x"}], "params": [{"$ref": "#/p"}]}
    overlay = {
        "a": {"b": 10, "c": None},
        "tags": [{"name": "x", "description": "d"}, {"name": "y"}],
        "params": [{"$ref": "#/p"}, {"$ref": "#/q"}],
    }
    assert spectool.apply_overlay(base, overlay) == {
        "a": {"b": 10},
        "tags": [{"name": "x", "description": "d"}, {"name": "y"}],
        "params": [{"$ref": "#/p"}, {"$ref": "#/q"}],
    }


def test_check_command_fails_on_a_stale_committed_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "openapi.yaml"
    stale.write_text(spectool.SPEC.read_text(encoding="utf-8").replace("2.x", "3.x", 1))
    monkeypatch.setattr(spectool, "SPEC", stale)
    assert spectool.main(["check", "--upstream", str(UPSTREAM)]) == 1
