"""Is a response a success the spec allows, or an InfluxDB error with the right status?

Used by the fuzz tests on responses to requests the test built byte by byte, so it
judges from the response and the (decoded) path and method alone.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from impl.errors import JSON_CONTENT_TYPE, STATUS_OF_CODE
from impl.server.docs import DOCS_PATH, SPEC_JSON_PATH, SPEC_YAML_PATH
from tests.support.metrics_text import families, openmetrics_families
from tests.support.rawhttp import RawResponse

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
SPEC_URI = "urn:influxdb-sysinfo:openapi"
# The docs (impl/server/docs.py) are served beside the API and are not part of the spec.
DOCS_PAGES = (DOCS_PATH, SPEC_JSON_PATH, SPEC_YAML_PATH)
# Statuses a code has besides its own in STATUS_OF_CODE (impl/errors.py explains why):
# 406 and 408 have no code of their own in the enum; 431 is a too-large request head.
EXTRA_STATUSES = {"invalid": {406, 408}, "request too large": {431}}


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = DRAFT4.create_resource(spec())
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return registry


def _validate(instance: object, schema_ref: str) -> None:
    ref = SPEC_URI + schema_ref if schema_ref.startswith("#") else schema_ref
    OAS30Validator({"$ref": ref}, registry=_registry()).validate(instance)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def decoded_path(target: bytes) -> str:
    """The path the server routes on, as uvicorn decodes a request target; an
    absolute-form target (`http://host/ping`) is routed by its path."""
    raw = target.split(b"?", 1)[0]
    path = unquote(raw.decode("ascii"))
    if path.startswith(("http://", "https://")):
        return urlsplit(path).path or "/"
    return path


def check_influx_error(response: RawResponse, head: bool = False) -> str:
    """Asserts the InfluxDB error shape; returns the code."""
    assert response.header("Content-Type") == JSON_CONTENT_TYPE, response
    code = response.header("X-Platform-Error-Code")
    assert code in STATUS_OF_CODE, response
    assert response.status in {STATUS_OF_CODE[code]} | EXTRA_STATUSES.get(code, set()), response
    if not head:
        body = json.loads(response.body)
        _validate(body, "#/components/schemas/Error")
        assert body["code"] == code and body["message"], response
        assert b"Traceback" not in response.body
    return code


def check_success(response: RawResponse, path: str, method: str) -> None:
    """Asserts that the spec declares this status, media type and body for the operation."""
    operation_method = "get" if method == "HEAD" and "head" not in _item(path) else method.lower()
    operation = _item(path).get(operation_method)
    assert operation is not None, f"{method} {path} succeeded but is no operation: {response}"
    declared = operation["responses"].get(str(response.status))
    assert declared is not None, f"{response.status} not declared for {method} {path}"
    content = _resolve(declared).get("content", {})
    content_type = response.header("Content-Type")
    if not content:
        assert content_type is None and response.body == b"", response
        return
    assert content_type is not None, response
    media_type = content_type.split(";")[0].strip()
    assert media_type in content, f"{content_type} not declared for {method} {path}"
    if method == "HEAD":
        assert response.body == b"", response
        return
    body = response.body
    if response.header("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    if media_type == "application/json":
        schema = content[media_type]["schema"]
        _validate(json.loads(body), schema.get("$ref", ""))
    elif media_type == "text/plain":
        families(body.decode())  # parses (a name[] filter may leave no family at all)
    elif media_type == "application/openmetrics-text":
        assert body.decode().endswith("# EOF\n")
        openmetrics_families(body.decode())


def _item(path: str) -> dict[str, Any]:
    item: dict[str, Any] = spec()["paths"].get(path, {})
    return item


def check_response(response: RawResponse, target: bytes, method: str) -> None:
    """A spec success or an InfluxDB error with its status; never a 5xx."""
    assert response.status < 500, response
    assert response.header("X-Influxdb-Build") is not None, response
    if response.status >= 400:
        check_influx_error(response, head=method == "HEAD")
        return
    path = decoded_path(target)
    if path in DOCS_PAGES or path.startswith(DOCS_PATH + "/"):
        return  # the docs page, its assets and the spec documents
    check_success(response, path, method)
