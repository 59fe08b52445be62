"""The contract conform applies: the OpenAPI spec this package carries, as operations,
declared responses and schemas.

Locations are JSON pointers into the carried openapi.yaml, so a report names the rule it
applied. Nothing here knows an operation by name: ids come from the document, in
whatever style it writes them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from openapi_schema_validator import OAS30ReadValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from impl.client.conform.formats import format_checker
from sysinfo_contract import HTTP_METHODS, refs
from sysinfo_contract import spec as contract_spec

CARRIED_SPEC = "openapi.yaml"
# The document is registered under this URI so that schema pointers resolve in it.
SPEC_URI = "urn:influxdb-sysinfo:openapi"
ERROR_SCHEMA_POINTER = "#/components/schemas/Error"


def pointer(*parts: str) -> str:
    """A JSON pointer fragment (RFC 6901) to the given keys."""
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


@dataclass(frozen=True)
class Declared:
    """One response an operation declares, `$ref`s resolved."""

    key: str  # "200", "4XX" or "default"
    pointer: str
    node: dict[str, Any]
    spec: Spec

    @property
    def content(self) -> dict[str, dict[str, Any]]:
        return dict(self.node.get("content") or {})

    def headers(self) -> Iterator[tuple[str, dict[str, Any], str]]:
        """(name, resolved header object, its pointer) for each declared header."""
        for name, header in (self.node.get("headers") or {}).items():
            node, where = self.spec.locate(header, f"{self.pointer}/headers/{name}")
            yield name, node, where

    def schema_pointer(self, media_type: str) -> str | None:
        if "schema" not in self.content.get(media_type, {}):
            return None
        return self.pointer + pointer("content", media_type, "schema")[1:]


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # "header", "query", "path", "cookie"
    pointer: str
    node: dict[str, Any]


@dataclass(frozen=True)
class Operation:
    id: str  # as the carried spec names it
    method: str  # upper case
    path: str
    pointer: str
    node: dict[str, Any]
    spec: Spec

    @property
    def slug(self) -> str:
        """The operation's part of a check id: `get_metrics` / `GetMetrics` -> `get-metrics`."""
        return re.sub(r"(?<=[^-_])([A-Z])", r"-\1", self.id).replace("_", "-").lower()

    def responses(self) -> Iterator[Declared]:
        for key, node in (self.node.get("responses") or {}).items():
            resolved, where = self.spec.locate(node, f"{self.pointer}/responses/{key}")
            yield Declared(str(key), where, resolved, self.spec)

    def declared(self, status: int) -> Declared | None:
        """By number or range, not by `default`: that stands for unexpected failures."""
        by_key = {declared.key.upper(): declared for declared in self.responses()}
        return by_key.get(str(status)) or by_key.get(f"{status // 100}XX")

    def covering(self, status: int) -> Declared | None:
        """The declared response that covers `status`, `default` included."""
        default = next((d for d in self.responses() if d.key == "default"), None)
        return self.declared(status) or default

    def parameters(self) -> Iterator[Parameter]:
        path_item = (self.spec.document["paths"][self.path], pointer("paths", self.path))
        for owner, owner_pointer in (path_item, (self.node, self.pointer)):
            for index, raw in enumerate(owner.get("parameters") or []):
                node, where = self.spec.locate(raw, f"{owner_pointer}/parameters/{index}")
                yield Parameter(node["name"], node["in"], where, node)


def _operation_id(node: dict[str, Any], method: str, path: str) -> str:
    """The operationId, or one made of the method and path when the spec gives none."""
    return str(node.get("operationId") or re.sub(r"\W+", "_", f"{method}{path}").strip("_"))


class Spec:
    def __init__(self, document: dict[str, Any], source: str) -> None:
        if not str(document.get("openapi", "")).startswith("3.0"):
            raise ValueError(f"{source}: only OpenAPI 3.0 documents are supported")
        self.document = document
        self.source = source
        resource: Resource[Any] = DRAFT4.create_resource(document)
        self._registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._formats = format_checker()
        self.operations = tuple(
            Operation(
                _operation_id(node, method, path),
                method.upper(),
                path,
                pointer("paths", path, method),
                node,
                self,
            )
            for path, item in document.get("paths", {}).items()
            for method in HTTP_METHODS
            if isinstance(node := item.get(method), dict)
        )

    @property
    def title(self) -> str:
        return str(self.document.get("info", {}).get("title", "OpenAPI document"))

    def methods_of(self, path: str) -> list[str]:
        return [op.method for op in self.operations if op.path == path]

    def operation_for(self, path: str, method: str) -> Operation | None:
        """The operation serving `method path`; a HEAD without its own operation is
        served as the GET (HTTP semantics)."""
        by_method = {op.method: op for op in self.operations if op.path == path}
        if method == "HEAD" and "HEAD" not in by_method:
            return by_method.get("GET")
        return by_method.get(method)

    def resolve(self, node: Any) -> dict[str, Any]:
        return self.locate(node, "")[0]

    def locate(self, node: Any, where: str) -> tuple[dict[str, Any], str]:
        """`node` (found at pointer `where`) with `$ref`s followed, and the pointer of
        what it resolves to: schema pointers must not pass through a `$ref`."""
        node, where = refs.locate(self.document, node, where)
        return (node if isinstance(node, dict) else {}), where

    def at(self, pointer: str) -> Any:
        return refs.at(self.document, pointer)

    def schema_errors(self, instance: object, schema_pointer: str) -> list[Any]:
        """Errors of `instance`, an answer's body or header, against the schema at
        `schema_pointer`, formats included (nested `$ref`s resolve in the whole document).
        The read validator, as for any response: it holds a required readOnly property
        (every field of Error) to `required`, which the plain one lets go."""
        validator = OAS30ReadValidator(
            {"$ref": SPEC_URI + schema_pointer},
            registry=self._registry,
            format_checker=self._formats,
        )
        return list(validator.iter_errors(instance))

    def error_codes(self) -> tuple[list[str], str]:
        """The enum of the Error schema's `code`, and where it is declared."""
        where = ERROR_SCHEMA_POINTER + "/properties/code"
        code, where = self.locate(self.at(where), where)
        return [str(value) for value in code.get("enum", [])], where + "/enum"


@cache
def carried_spec() -> Spec:
    """The spec conform applies: openapi/openapi.yaml, the one the project reviews and
    serves, as the influxdb-sysinfo-contract distribution carries it (a dependency of
    this package: conform works outside the repository, without the server). The one
    place that says where it is."""
    return Spec(copy.deepcopy(contract_spec()), CARRIED_SPEC)
