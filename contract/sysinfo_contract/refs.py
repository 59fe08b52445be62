"""Following `$ref`s inside one OpenAPI document: local component references only
(`#/components/<section>/<name>`), which is all the reviewed spec and upstream use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class RefError(ValueError):
    """A `$ref` that is not a local component reference, or points at nothing."""


def ref_target(ref: str) -> tuple[str, str]:
    """(section, name) of `#/components/<section>/<name>`."""
    parts = ref.split("/")
    if len(parts) != 4 or parts[:2] != ["#", "components"]:
        raise RefError(f"unsupported $ref {ref!r}: only local component refs are resolved")
    return parts[2], parts[3]


def resolve(document: Any, node: Any) -> Any:
    """`node` with its `$ref` chain followed to the component it names (a node without
    one is returned as is; a cycle stops where it closes)."""
    return locate(document, node, "")[0]


def locate(document: Any, node: Any, where: str) -> tuple[Any, str]:
    """`node`, found at JSON pointer `where`, with its `$ref` chain followed, and the
    pointer of what it resolves to (a report names the rule it applied by that pointer)."""
    seen: set[str] = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if ref in seen:
            break
        seen.add(ref)
        section, name = ref_target(ref)
        target = document.get("components", {}).get(section, {}).get(name)
        if target is None:
            raise RefError(f"dangling $ref {ref}")
        node, where = target, ref
    return node, where


def at(document: Any, pointer: str) -> Any:
    """The node at a JSON pointer (`#/components/schemas/Error`) of `document`."""
    node = document
    for part in pointer.removeprefix("#").strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def iter_refs(node: Any) -> Iterator[str]:
    """Every `$ref` string anywhere inside `node`."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)
