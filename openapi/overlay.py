"""The project's overlay: how it merges into the upstream extract, and what it may not do.

`apply_overlay` merges overlay.yaml into the extract.  `compatibility_problems` lists
what the merged spec breaks of an upstream operation it serves: a removed path,
parameter, response, media type, header, property or enum value, a narrowed type, a
new required input.  Adding is allowed; taking away from upstream is not.
"""

from __future__ import annotations

import copy
from typing import Any

from openapi.extraction import Json, SpecError, ref_target


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
