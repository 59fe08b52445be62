"""The project's overlay: how it merges into the upstream extract, and what it may not do.

`apply_overlay` merges overlay.yaml into the extract.  `compatibility_problems` lists
what the merged spec breaks of an upstream operation it serves, by the same rules as
the upstream change report (a removed parameter, response, property or enum value, a
narrowed request, a new required input, a renamed operation).  Declaring more of what
the service sends is allowed; taking away from upstream is not.
"""

from __future__ import annotations

import copy
from typing import Any

from openapi.contract_diff import operation_changes
from openapi.extraction import Json, strip_prose


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


def compatibility_problems(upstream_extract: Json, served: Json) -> list[str]:
    """What the served spec breaks for clients written against upstream's served
    operations, judged by the rules of the upstream change report (rules.py). The
    overlay may declare more than upstream of what the service sends (responses,
    headers, media types, values: the service sends them whatever upstream says), and
    may reword everything; it may not take away or narrow what clients send or read."""
    operations = operation_changes(strip_prose(upstream_extract), strip_prose(served))
    return [
        f"{operation.key}: {change.where}: {change.what} ({change.clients.why})"
        for operation in operations
        for change in operation.changes
        if change.clients.breaking and not change.clients.more_sent
    ]
