"""Take the served operations out of a full upstream InfluxDB OSS v2 document.

The extract keeps the structure of the served operations (GET /metrics, /health,
/ready, /ping and HEAD /ping, found by method and path) exactly as upstream defines it
(paths, operationIds, parameters, responses, headers, media types, schemas, enums,
required lists, security) with every component they reach, and drops upstream prose.
Digests fingerprint the structure of every upstream operation, so a later document can
be compared without keeping this one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from sysinfo_contract import HTTP_METHODS
from sysinfo_contract.refs import RefError, iter_refs, ref_target

# The upstream operations served here, by method and path: what a client calls. Their
# operationIds name generated methods and may change upstream (contract_diff reports it).
SERVED_OPERATIONS = ("GET /metrics", "GET /health", "GET /ready", "GET /ping", "HEAD /ping")

# Keywords whose values are upstream prose or samples; the project writes its own.
PROSE_KEYS = frozenset(
    {"description", "summary", "example", "examples", "externalDocs", "x-codeSamples"}
)
# Maps whose keys are names chosen by the spec author, not OpenAPI keywords: a property
# called "description" must survive prose stripping.
NAMED_MAPS = frozenset(
    {"properties", "headers", "content", "responses", "schemas", "parameters", "securitySchemes"}
)
# 16 hex digits tell operations apart in one document with room to spare.
DIGEST_LENGTH = 16

Json = Any


class SpecError(Exception):
    """The document cannot yield the extract (unreadable, not OpenAPI 3, bad $ref)."""


def read_source(location: str) -> bytes:
    """The bytes of an upstream document given by URL or by path."""
    if location.startswith(("https://", "http://")):
        try:
            with urllib.request.urlopen(location, timeout=30) as response:  # noqa: S310
                body: bytes = response.read()
                return body
        except OSError as err:
            raise SpecError(f"cannot download {location}: {err}") from err
    try:
        return Path(location).read_bytes()
    except OSError as err:
        raise SpecError(f"cannot read {location}: {err.strerror}") from err


def load_document(raw: bytes, label: str) -> Json:
    """Parse YAML or JSON and check the shape of an OpenAPI 3 document.

    Upstream's full document does not pass a strict validator (a schema elsewhere has
    `required: true`), so only the extract is validated strictly, by the caller.
    """
    try:
        doc = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        raise SpecError(f"{label} is neither YAML nor JSON: {err}") from err
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3."):
        raise SpecError(f"{label} is not an OpenAPI 3 document (no `openapi: 3.x`)")
    info = doc.get("info")
    if not isinstance(info, dict) or "title" not in info or "version" not in info:
        raise SpecError(f"{label} has no info.title and info.version")
    if not isinstance(doc.get("paths"), dict):
        raise SpecError(f"{label} has no paths")
    return doc


def strip_prose(node: Json, *, named: bool = False) -> Json:
    """Drop prose keywords everywhere except as names inside author-named maps."""
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if not named and key in PROSE_KEYS:
                continue
            result[key] = strip_prose(value, named=(not named and key in NAMED_MAPS))
        return result
    if isinstance(node, list):
        return [strip_prose(item) for item in node]
    return node


def iter_operations(doc: Json) -> Iterator[tuple[str, str, Json]]:
    """(path, method, operation) for every operation of the document."""
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            if isinstance(item, dict) and isinstance(item.get(method), dict):
                yield path, method, item[method]


def operation_key(path: str, method: str) -> str:
    return f"{method.upper()} {path}"


def effective_security(doc: Json, operation: Json) -> Json:
    """An operation's own security requirements, else the document's."""
    return operation["security"] if "security" in operation else doc.get("security", [])


def reachable_components(doc: Json, roots: Iterable[Json]) -> dict[str, dict[str, Json]]:
    """Every component reached from `roots` by $ref, followed transitively."""
    components: dict[str, dict[str, Json]] = {}
    pending: list[str] = []
    for root in roots:
        pending.extend(iter_refs(root))
    while pending:
        try:
            section, name = ref_target(pending.pop())
        except RefError as err:
            raise SpecError(str(err)) from err
        if name in components.get(section, {}):
            continue
        try:
            target = doc["components"][section][name]
        except (KeyError, TypeError) as err:
            raise SpecError(f"dangling $ref #/components/{section}/{name}") from err
        components.setdefault(section, {})[name] = copy.deepcopy(target)
        pending.extend(iter_refs(target))
    return {section: dict(sorted(named.items())) for section, named in sorted(components.items())}


def _security_refs(requirements: Json) -> list[Json]:
    """Security requirements name schemes without a $ref: make the reach explicit."""
    return [
        {"$ref": f"#/components/securitySchemes/{name}"}
        for requirement in requirements
        for name in requirement
    ]


def served_operation_keys(doc: Json) -> dict[str, str]:
    """operationId -> "METHOD /path" for the served operations the document has."""
    return {
        op.get("operationId", operation_key(path, method)): operation_key(path, method)
        for path, method, op in iter_operations(doc)
        if operation_key(path, method) in SERVED_OPERATIONS
    }


def missing_operations(doc: Json) -> list[str]:
    present = {operation_key(path, method) for path, method, _ in iter_operations(doc)}
    return [key for key in SERVED_OPERATIONS if key not in present]


def extract(upstream: Json) -> Json:
    """The served operations of `upstream` with every component they reach, prose kept."""
    missing = missing_operations(upstream)
    if missing:
        raise SpecError(f"upstream spec lacks operations: {', '.join(missing)}")
    paths: dict[str, dict[str, Json]] = {}
    for path, method, operation in iter_operations(upstream):
        if operation_key(path, method) in SERVED_OPERATIONS:
            item = paths.setdefault(path, {})
            # Parameters declared once for the whole path apply to its operations too.
            if "parameters" in upstream["paths"][path]:
                item["parameters"] = copy.deepcopy(upstream["paths"][path]["parameters"])
            item[method] = copy.deepcopy(operation)
    operations = [op for item in paths.values() for key, op in item.items() if key in HTTP_METHODS]
    security = upstream.get("security", [])
    roots = [paths, *_security_refs(security)]
    roots += [_security_refs(op.get("security", [])) for op in operations]
    used_tags = sorted({tag for op in operations for tag in op.get("tags", [])})
    return {
        "openapi": upstream["openapi"],
        "info": {"title": upstream["info"]["title"], "version": upstream["info"]["version"]},
        "servers": upstream.get("servers", [{"url": "/"}]),
        "security": security,
        "tags": [{"name": tag} for tag in used_tags],
        "paths": dict(sorted(paths.items())),
        "components": reachable_components(upstream, roots),
    }


def operation_digests(doc: Json) -> dict[str, str]:
    """A digest of the structure of every operation, keyed "METHOD /path".

    The structure is the operation, the path's own parameters, its effective security
    and every component it reaches, all without prose: a change anywhere in what a
    client or server of that operation must agree on changes the digest.
    """
    digests = {}
    for path, method, operation in iter_operations(doc):
        security = effective_security(doc, operation)
        parameters = doc["paths"][path].get("parameters", [])
        structure = {
            "operation": operation,
            "path_parameters": parameters,
            "security": security,
            "components": reachable_components(
                doc, [operation, parameters, *_security_refs(security)]
            ),
        }
        canonical = json.dumps(strip_prose(structure), sort_keys=True, separators=(",", ":"))
        digests[operation_key(path, method)] = hashlib.sha256(
            canonical.encode("utf-8")
        ).hexdigest()[:DIGEST_LENGTH]
    return dict(sorted(digests.items()))
