"""Every response of the reviewed spec that has a body has an example, valid for its
schema, so that a mock made from the spec answers as the service does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from impl.spec import served_spec
from sysinfo_contract import HTTP_METHODS
from sysinfo_contract.refs import resolve
from tools.metrics_text import families, openmetrics_families

SPEC = served_spec()


def media_types() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, media type, media type object) for every response body the spec declares."""
    for path, item in SPEC["paths"].items():
        for method in HTTP_METHODS:
            if method not in item:
                continue
            for status, response in item[method]["responses"].items():
                for media, content in resolve(SPEC, response).get("content", {}).items():
                    yield f"{method.upper()} {path} {status}", media, content


MEDIA_TYPES = list(media_types())


def test_the_spec_declares_bodies_in_three_media_types() -> None:
    kinds = {media for _, media, _ in MEDIA_TYPES}
    assert kinds == {"application/json", "text/plain", "application/openmetrics-text"}


def problems(schema: dict[str, Any], instance: Any) -> list[str]:
    """What is wrong with `instance` for `schema`, whose $refs point into the spec."""
    # The spec's components beside the schema, so that "#/components/..." resolves.
    validator = OAS30Validator({**schema, "components": SPEC["components"]})
    return [error.message for error in validator.iter_errors(instance)]


@pytest.mark.parametrize(("where", "media", "content"), MEDIA_TYPES)
def test_every_body_has_an_example_valid_for_its_schema(
    where: str, media: str, content: dict[str, Any]
) -> None:
    assert "example" in content, f"{where} {media}: no example"
    assert problems(content["schema"], content["example"]) == [], f"{where} {media}"


def test_the_check_catches_the_examples_generators_invent() -> None:
    health = {"$ref": "#/components/schemas/HealthCheck"}
    invented = {"name": "name", "status": "pass", "checks": [None, None]}
    assert len(problems(health, invented)) >= 2  # each null check is refused
    error = {"$ref": "#/components/schemas/Error"}
    assert problems(error, {"code": "code", "message": "message"}) != []


def test_exposition_examples_parse_as_their_format() -> None:
    metrics = SPEC["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    text = families(metrics["text/plain"]["example"])
    openmetrics = openmetrics_families(metrics["application/openmetrics-text"]["example"])
    names = ["http_api_requests", "influxdb_info", "influxdb_uptime_seconds"]
    assert list(text) == names and list(openmetrics) == names


def headers() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, name, header object) for every response header the spec declares."""
    for path, item in SPEC["paths"].items():
        for method in HTTP_METHODS:
            for status, response in item.get(method, {}).get("responses", {}).items():
                for name, header in resolve(SPEC, response).get("headers", {}).items():
                    yield f"{method.upper()} {path} {status}", name, resolve(SPEC, header)


def test_identity_headers_have_examples_valid_for_their_schema() -> None:
    examples = {}
    for where, name, header in headers():
        if name.startswith("X-Influxdb-"):
            assert "example" in header, f"{where} {name}: no example"
        if "example" in header:
            assert problems(header["schema"], header["example"]) == [], f"{where} {name}"
            examples[name] = header["example"]
    assert examples == {"X-Influxdb-Build": "OSS", "X-Influxdb-Version": "v2.7.12"}
