"""Derive the project's spec from the upstream InfluxDB OSS v2 spec, and check it.

``build`` extracts the system-information operations the service serves, keeps their
structure exactly (paths, operationIds, parameters, responses, media types, schemas,
enums, required lists, security), drops upstream prose, then applies the project's
overlay (``overlay.yaml``).  ``check`` rebuilds in memory and fails when the committed
spec differs, or when the overlay breaks an upstream operation we serve.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
OVERLAY = HERE / "overlay.yaml"
SPEC = HERE / "openapi.yaml"
SOURCE = HERE / "upstream.json"
DEFAULT_URL = "https://docs.influxdata.com/openapi/influxdb-oss-v2-api.yml"

SERVED_OPERATIONS = ("GetMetrics", "GetHealth", "GetReady", "GetPing", "HeadPing")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Keywords whose values are upstream prose or samples; the project writes its own.
PROSE_KEYS = frozenset(
    {"description", "summary", "example", "examples", "externalDocs", "x-codeSamples"}
)
# Maps whose keys are names chosen by the spec author, not OpenAPI keywords: a property
# called "description" must survive prose stripping.
NAMED_MAPS = frozenset({"properties", "headers", "content", "responses", "schemas"})

Json = Any


class SpecError(Exception):
    """The upstream document cannot yield the spec (missing operation, bad $ref)."""


def read_upstream(location: str | None) -> tuple[bytes, str]:
    """Return the upstream document's bytes and a label saying where they came from."""
    if location:
        try:
            return Path(location).read_bytes(), Path(location).name
        except OSError as err:
            raise SpecError(f"cannot read upstream spec {location}: {err.strerror}") from err
    try:
        with urllib.request.urlopen(DEFAULT_URL, timeout=30) as response:  # noqa: S310
            return response.read(), DEFAULT_URL
    except OSError as err:
        raise SpecError(
            f"cannot download {DEFAULT_URL} ({err}); "
            "offline, pass UPSTREAM_SPEC=../shared/upstream/influxdb-oss-v2-api.yml"
        ) from err


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


def iter_refs(node: Json) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


def ref_target(ref: str) -> tuple[str, str]:
    parts = ref.split("/")
    if len(parts) != 4 or parts[:2] != ["#", "components"]:
        raise SpecError(f"unsupported $ref {ref!r}: only local component refs are resolved")
    return parts[2], parts[3]


def extract(upstream: Json) -> Json:
    """The served operations of ``upstream`` with every component they reach."""
    paths: dict[str, dict[str, Json]] = {}
    found: set[str] = set()
    for path, item in upstream["paths"].items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation and operation.get("operationId") in SERVED_OPERATIONS:
                paths.setdefault(path, {})[method] = copy.deepcopy(operation)
                found.add(operation["operationId"])
    missing = sorted(set(SERVED_OPERATIONS) - found)
    if missing:
        raise SpecError(f"upstream spec lacks operations: {', '.join(missing)}")

    components: dict[str, dict[str, Json]] = {}
    pending = list(iter_refs(paths))
    pending += [
        f"#/components/securitySchemes/{name}"
        for requirement in upstream.get("security", [])
        for name in requirement
    ]
    while pending:
        section, name = ref_target(pending.pop())
        if name in components.get(section, {}):
            continue
        try:
            target = upstream["components"][section][name]
        except KeyError as err:
            raise SpecError(f"dangling $ref #/components/{section}/{name}") from err
        components.setdefault(section, {})[name] = copy.deepcopy(target)
        pending.extend(iter_refs(target))

    used_tags = sorted(
        {tag for item in paths.values() for op in item.values() for tag in op.get("tags", [])}
    )
    return {
        "openapi": upstream["openapi"],
        "info": {"title": upstream["info"]["title"], "version": upstream["info"]["version"]},
        "servers": upstream.get("servers", [{"url": "/"}]),
        "security": upstream.get("security", []),
        "tags": [{"name": tag} for tag in used_tags],
        "paths": dict(sorted(paths.items())),
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }


def apply_overlay(base: Json, overlay: Json) -> Json:
    """Merge ``overlay`` into ``base``.

    Maps merge key by key; lists merge named items (tags, parameters) with their
    namesake and gain the items they lack, so an added parameter does not restate
    upstream's; scalars are replaced, and ``null`` deletes.
    """
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = apply_overlay(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(overlay, list):
        merged_list = list(base)
        for item in overlay:
            match = next(
                (
                    i
                    for i, old in enumerate(merged_list)
                    if item_identity(old) is not None and item_identity(old) == item_identity(item)
                ),
                None,
            )
            if match is not None:
                merged_list[match] = apply_overlay(merged_list[match], item)
            elif item not in merged_list:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(overlay)


def item_identity(item: Json) -> tuple[Any, Any] | None:
    """Named list items (tags, parameters) merge with their namesake."""
    if isinstance(item, dict) and "name" in item:
        return item["name"], item.get("in")
    return None


def build(upstream_bytes: bytes, source_label: str) -> tuple[Json, Json, Json]:
    """Return (upstream extract, final spec, source record)."""
    upstream = yaml.safe_load(upstream_bytes)
    extracted = strip_prose(extract(upstream))
    overlay = yaml.safe_load(OVERLAY.read_text(encoding="utf-8"))
    spec = apply_overlay(extracted, overlay)
    source = {
        "source": source_label,
        "sha256": hashlib.sha256(upstream_bytes).hexdigest(),
        "openapi": upstream["openapi"],
        "info_version": upstream["info"]["version"],
        "operations": list(SERVED_OPERATIONS),
    }
    return extracted, spec, source


def render(spec: Json) -> str:
    header = (
        "# Derived by `make spec` from the upstream InfluxDB OSS v2 spec (see upstream.json)\n"
        "# plus overlay.yaml. Do not edit: change overlay.yaml and rerun `make spec`.\n"
    )
    return header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def render_source(source: Json) -> str:
    return json.dumps(source, indent=2) + "\n"


# --- compatibility: what the overlay may not do to an upstream operation -------------

# Header and parameter values travel as strings: widening their schema to string
# accepts every value upstream accepted (X-Influxdb-Version is "2.7.12", not an integer).
WIDENINGS = {("integer", "number")}
TEXT_WIDENINGS = {("integer", "string"), ("number", "string"), ("boolean", "string")}


class Spec:
    """Ref-resolving view of a spec document."""

    def __init__(self, doc: Json) -> None:
        self.doc = doc

    def resolve(self, node: Json) -> Json:
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                break
            seen.add(ref)
            section, name = ref_target(ref)
            node = self.doc.get("components", {}).get(section, {}).get(name)
            if node is None:
                raise SpecError(f"dangling $ref {ref}")
        return node


def compare_schema(
    old: Spec,
    new: Spec,
    a: Json,
    b: Json,
    where: str,
    text: bool,
    problems: list[str],
    seen: set[tuple[int, int]],
) -> None:
    # An enum beside a $ref (upstream's Error.code) is checked before the ref is followed.
    if isinstance(a, dict) and isinstance(b, dict) and "$ref" in a and "enum" in a:
        lost = [v for v in a["enum"] if v not in b.get("enum", [])]
        if lost:
            problems.append(f"{where}: enum values removed: {lost}")
    a, b = old.resolve(a), new.resolve(b)
    if not isinstance(a, dict) or not isinstance(b, dict) or (id(a), id(b)) in seen:
        return
    seen.add((id(a), id(b)))
    ta, tb = a.get("type"), b.get("type")
    if ta and ta != tb and (ta, tb) not in WIDENINGS and not (text and (ta, tb) in TEXT_WIDENINGS):
        problems.append(f"{where}: type narrowed or changed from {ta} to {tb}")
    if "enum" in a:
        kept = b["enum"] if "enum" in b else a["enum"]
        lost = [v for v in a["enum"] if v not in kept]
        if lost:
            problems.append(f"{where}: enum values removed: {lost}")
    for prop, sub in a.get("properties", {}).items():
        if prop not in b.get("properties", {}):
            problems.append(f"{where}: property {prop!r} removed")
        else:
            compare_schema(
                old, new, sub, b["properties"][prop], f"{where}.{prop}", False, problems, seen
            )
    if "items" in a and "items" in b:
        compare_schema(old, new, a["items"], b["items"], f"{where}[]", False, problems, seen)


def compatibility_problems(upstream_doc: Json, final_doc: Json) -> list[str]:
    old, new = Spec(upstream_doc), Spec(final_doc)
    problems: list[str] = []
    for path, item in upstream_doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            new_op = final_doc["paths"].get(path, {}).get(method)
            if new_op is None:
                problems.append(f"{where}: operation removed")
                continue
            if new_op.get("operationId") != op.get("operationId"):
                problems.append(f"{where}: operationId changed to {new_op.get('operationId')}")
            compare_operation(old, new, op, new_op, where, problems)
    return problems


def compare_operation(
    old: Spec, new: Spec, op: Json, new_op: Json, where: str, problems: list[str]
) -> None:
    new_params = {}
    for param in map(new.resolve, new_op.get("parameters", [])):
        new_params[(param["name"], param["in"])] = param
    for param in map(old.resolve, op.get("parameters", [])):
        key = (param["name"], param["in"])
        if key not in new_params:
            problems.append(f"{where}: parameter {key[1]} {key[0]!r} removed")
            continue
        compare_schema(
            old,
            new,
            param.get("schema"),
            new_params[key].get("schema"),
            f"{where} parameter {key[0]}",
            True,
            problems,
            set(),
        )
    old_keys = {(p["name"], p["in"]) for p in map(old.resolve, op.get("parameters", []))}
    for key, param in new_params.items():
        if param.get("required") and key not in old_keys:
            problems.append(f"{where}: new required parameter {key[0]!r}")
        elif param.get("required") and key in old_keys:
            previous = next(
                p for p in map(old.resolve, op["parameters"]) if (p["name"], p["in"]) == key
            )
            if not previous.get("required"):
                problems.append(f"{where}: parameter {key[0]!r} made required")
    if new_op.get("requestBody", {}).get("required") and not op.get("requestBody"):
        problems.append(f"{where}: new required request body")
    for code, response in op.get("responses", {}).items():
        new_response = new_op.get("responses", {}).get(code)
        if new_response is None:
            problems.append(f"{where}: response {code} removed")
            continue
        response, new_response = old.resolve(response), new.resolve(new_response)
        for media, content in response.get("content", {}).items():
            new_content = new_response.get("content", {}).get(media)
            if new_content is None:
                problems.append(f"{where}: response {code} media type {media} removed")
                continue
            compare_schema(
                old,
                new,
                content.get("schema"),
                new_content.get("schema"),
                f"{where} {code} {media}",
                False,
                problems,
                set(),
            )
        for header, spec in response.get("headers", {}).items():
            new_header = new_response.get("headers", {}).get(header)
            if new_header is None:
                problems.append(f"{where}: response {code} header {header} removed")
            else:
                compare_schema(
                    old,
                    new,
                    spec.get("schema"),
                    new_header.get("schema"),
                    f"{where} {code} header {header}",
                    True,
                    problems,
                    set(),
                )


# --- command line --------------------------------------------------------------------


def validate(spec: Json) -> None:
    from openapi_spec_validator import validate as validate_spec

    validate_spec(spec)


def committed_problems(extracted: Json) -> list[str]:
    """What is wrong with the committed spec itself: invalid, or breaking upstream."""
    if not SPEC.exists():
        return [f"{SPEC} is missing"]
    committed = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    try:
        validate(committed)
        return [f"committed spec: {p}" for p in compatibility_problems(extracted, committed)]
    except Exception as err:  # the validator raises many kinds; each is a finding
        return [f"committed spec is invalid: {type(err).__name__}: {str(err)[:300]}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "check"))
    parser.add_argument("--upstream", help="path of a local upstream spec (default: download)")
    args = parser.parse_args(argv)
    try:
        raw, label = read_upstream(args.upstream)
        extracted, spec, source = build(raw, label)
        validate(spec)
    except SpecError as err:
        print(f"spectool: {err}", file=sys.stderr)
        return 2
    problems = compatibility_problems(extracted, spec)
    if args.command == "build":
        SPEC.write_text(render(spec), encoding="utf-8")
        SOURCE.write_text(render_source(source), encoding="utf-8")
        print(f"wrote {SPEC.relative_to(HERE.parent)} from {label} ({source['sha256'][:12]})")
    else:
        if not SPEC.exists() or SPEC.read_text(encoding="utf-8") != render(spec):
            problems.append(f"{SPEC.name} is not what `make spec` produces from {label}")
        problems += committed_problems(extracted)
        if SOURCE.exists() and json.loads(SOURCE.read_text())["sha256"] != source["sha256"]:
            problems.append(f"{SOURCE.name} records another upstream document than {label}")
    for problem in problems:
        print(f"spectool: {problem}", file=sys.stderr)
    if problems:
        print("spectool: fix: edit openapi/overlay.yaml, then `make spec`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
