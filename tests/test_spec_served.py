"""The spec on the wire is the reviewed spec: /openapi.json and /openapi.yaml are
openapi/openapi.yaml, and the service routes each of its operations."""

from __future__ import annotations

from pathlib import Path

import yaml
from starlette.testclient import TestClient

from impl.server.controllers import controller_functions, generated_spec
from impl.spec import served_spec

REVIEWED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.yaml"


def operation_ids(document: dict[str, object]) -> dict[tuple[str, str], str]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {
        (method, path): operation["operationId"]
        for path, item in paths.items()
        for method, operation in item.items()
    }


def test_openapi_yaml_is_the_reviewed_file_as_written(client: TestClient) -> None:
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/yaml; charset=utf-8"
    assert response.text == REVIEWED.read_text(encoding="utf-8")


def test_openapi_json_is_the_reviewed_document(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    reviewed = yaml.safe_load(REVIEWED.read_text(encoding="utf-8"))
    assert response.json() == reviewed == served_spec()
    assert operation_ids(reviewed) == {
        ("get", "/health"): "GetHealth",
        ("head", "/health"): "HeadHealth",
        ("get", "/metrics"): "GetMetrics",
        ("head", "/metrics"): "HeadMetrics",
        ("get", "/ping"): "GetPing",
        ("head", "/ping"): "HeadPing",
        ("get", "/ready"): "GetReady",
        ("head", "/ready"): "HeadReady",
    }
    # The recursive schema stays a reference, which is what lets it be written at all.
    checks = reviewed["components"]["schemas"]["HealthCheck"]["properties"]["checks"]
    assert checks["items"] == {"$ref": "#/components/schemas/HealthCheck"}


def test_every_reviewed_operation_has_a_generated_controller() -> None:
    functions = controller_functions(generated_spec())
    reviewed = {(path, method) for method, path in operation_ids(served_spec())}
    assert set(functions) == reviewed
    assert (
        functions[("/metrics", "get")]
        == "sysinfo_server.controllers.metrics_controller.get_metrics"
    )
    assert functions[("/ready", "head")] == "sysinfo_server.controllers.ready_controller.head_ready"


def test_head_answers_as_get_without_a_body(client: TestClient) -> None:
    for path, status in (("/metrics", 200), ("/health", 200), ("/ready", 200), ("/ping", 204)):
        get, head = client.get(path), client.head(path)
        assert (head.status_code, get.status_code) == (status, status), path
        assert head.headers.get("Content-Type") == get.headers.get("Content-Type"), path
        assert head.headers["X-Influxdb-Version"] == "v2.7.12"
        assert head.content == b""
