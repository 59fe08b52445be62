"""The operations of the served spec, and what the layers need to know of each, read from
the spec once at start-up: nothing here names an endpoint.

- `exposition`: the operation answers with the metrics exposition (its path's GET declares
  a `text/plain` success), so its answers are rendered under ScrapeSlots and gzipped.
- `validation_cannot_fail`: a request without a query string or a body cannot fail the
  operation's request validation: no parameter is required, and every header or cookie
  parameter is a plain string (a header value always is one), and none has a default
  (Connexion would hand it to the handler). Such requests may skip Connexion's validation
  and parameter parsing (impl/http/fastpath.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sysinfo_contract import HTTP_METHODS
from sysinfo_contract.refs import resolve

EXPOSITION_MEDIA_TYPE = "text/plain"
# Schema keywords that describe a value without constraining it (JSON Schema's
# annotations and OpenAPI's own).
ANNOTATIONS = frozenset(
    {"description", "title", "example", "examples", "deprecated", "externalDocs"}
)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str
    exposition: bool
    validation_cannot_fail: bool


def _unconstrained_string(spec: Mapping[str, Any], parameter: Mapping[str, Any]) -> bool:
    schema = resolve(spec, parameter.get("schema"))
    if "content" in parameter or not isinstance(schema, Mapping):
        return False
    return schema.get("type") == "string" and set(schema) - {"type"} <= ANNOTATIONS


def validation_cannot_fail(
    spec: Mapping[str, Any], path_item: Mapping[str, Any], definition: Mapping[str, Any]
) -> bool:
    """Whether a request without query string or body always passes the operation's
    request validation (see the module docstring)."""
    if "requestBody" in definition:
        return False
    parameters = [*path_item.get("parameters", ()), *definition.get("parameters", ())]
    for parameter in (resolve(spec, p) for p in parameters):
        where = parameter.get("in")
        if parameter.get("required") or where == "path":
            return False
        # Connexion hands a handler the default of a parameter the request lacks.
        if "default" in (resolve(spec, parameter.get("schema")) or {}):
            return False
        if where in ("header", "cookie") and not _unconstrained_string(spec, parameter):
            return False
    return True


def _serves_exposition(spec: Mapping[str, Any], definition: Mapping[str, Any] | None) -> bool:
    if definition is None:
        return False
    for status, response in definition.get("responses", {}).items():
        if str(status).startswith("2"):
            content = resolve(spec, response).get("content") or {}
            if EXPOSITION_MEDIA_TYPE in content:
                return True
    return False


def spec_operations(spec: Mapping[str, Any]) -> Iterator[Operation]:
    for path, path_item in spec["paths"].items():
        # HEAD is a GET without a body: a path's HEAD answers as its GET does.
        exposition = _serves_exposition(spec, path_item.get("get"))
        for method in HTTP_METHODS:
            definition = path_item.get(method)
            if definition is None:
                continue
            yield Operation(
                operation_id=definition["operationId"],
                method=method.upper(),
                path=path,
                exposition=exposition,
                validation_cannot_fail=validation_cannot_fail(spec, path_item, definition),
            )
