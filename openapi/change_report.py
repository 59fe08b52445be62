"""The report in words of what an upstream update changes for the served operations."""

from __future__ import annotations

from dataclasses import dataclass

from openapi.contract_diff import OperationChanges, OtherOperations
from openapi.rules import Change


@dataclass(frozen=True)
class DocumentSummary:
    label: str
    sha256: str
    openapi: str
    info_version: str


def verdict_word(breaking: bool) -> str:
    return "breaking" if breaking else "compatible"


def operation_status(operation: OperationChanges) -> str:
    clients = any(change.clients.breaking for change in operation.changes)
    server = any(change.server.breaking for change in operation.changes)
    if clients and server:
        return "breaking for clients and for the server"
    if clients:
        return "breaking for clients"
    if server:
        return "breaking for the server"
    return "compatible"


def change_lines(change: Change) -> list[str]:
    return [
        f"  {change.where}: {change.what}",
        f"    clients: {verdict_word(change.clients.breaking)} - {change.clients.why}",
        f"    server:  {verdict_word(change.server.breaking)} - {change.server.why}",
    ]


def render_report(
    old: DocumentSummary,
    new: DocumentSummary,
    operations: list[OperationChanges],
    others: OtherOperations,
) -> str:
    lines = [
        f"Old upstream document: {old.label} (sha256 {old.sha256[:12]})",
        f"New upstream document: {new.label} (sha256 {new.sha256[:12]})",
    ]
    if old.sha256 == new.sha256:
        lines.append("The same document.")
    if old.openapi != new.openapi:
        lines.append(f"OpenAPI version: {old.openapi} -> {new.openapi}")
    if old.info_version != new.info_version:
        lines.append(f"Upstream API version: {old.info_version} -> {new.info_version}")
    lines.append("")
    for operation in operations:
        count = len(operation.changes)
        if not count:
            lines.append(f"{operation.operation_id} ({operation.key}): no change")
            continue
        plural = "s" if count > 1 else ""
        heading = f"{operation.operation_id} ({operation.key})"
        lines.append(f"{heading}: {count} change{plural}, {operation_status(operation)}")
        for change in operation.changes:
            lines.extend(change_lines(change))
    lines += [
        "",
        f"Other upstream operations: {others.changed} changed, {others.added} added, "
        f"{others.removed} removed, {others.unchanged} unchanged.",
    ]
    changes = [change for operation in operations for change in operation.changes]
    breaking = [change for change in changes if change.breaking]
    if not changes:
        lines.append("No change to the contract of the served operations.")
    elif breaking:
        clients = sum(1 for change in breaking if change.clients.breaking)
        server = sum(1 for change in breaking if change.server.breaking)
        lines.append(
            f"Breaking: {len(breaking)} of {len(changes)} changes to the served operations "
            f"(for clients: {clients}, for the server: {server})."
        )
    else:
        lines.append(f"Compatible: {len(changes)} changes to the served operations, none breaking.")
    return "\n".join(lines) + "\n"
