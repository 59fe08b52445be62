"""What changed between two extracts of the served operations, and whom it breaks.

The rules that judge each change are written out in rules.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openapi.extraction import (
    SERVED_OPERATIONS,
    Json,
    effective_security,
    iter_operations,
    operation_key,
)
from openapi.rules import (
    ALREADY_SERVED,
    Change,
    Effect,
    Position,
    breaks,
    input_added,
    is_annotation,
    judge,
    more_sent,
    ok,
    output_added,
    removed,
    requirement_label,
    show,
)
from openapi.schema_diff import SchemaDiff


@dataclass
class OperationChanges:
    operation_id: str
    key: str
    changes: list[Change] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return any(change.breaking for change in self.changes)


class OperationDiff(SchemaDiff):
    """Walks one served operation in the old and new extract, collecting changes.

    `served` is the spec this service serves now, so that what the overlay already
    provides is not held against the server.
    """

    def __init__(self, old_doc: Json, new_doc: Json, served: Json | None) -> None:
        super().__init__(old_doc, new_doc)
        self.served = served

    def served_has(self, key: str, *path: str) -> bool:
        """Whether the spec this service serves has `path` inside the operation `key`."""
        if self.served is None:
            return False
        for op_path, method, operation in iter_operations(self.served):
            if operation_key(op_path, method) != key:
                continue
            node: Json = {**operation, "parameters": self.parameters(self.served, op_path, method)}
            for step in path:
                node = self.resolve(self.served, node)
                if isinstance(node, dict) and step in node:
                    node = node[step]
                else:
                    return False
            return True
        return False

    def parameters(self, doc: Json, path: str, method: str) -> dict[str, Json]:
        """Effective parameters of an operation, keyed "<in> parameter <name>"."""
        item = doc["paths"][path]
        found: dict[str, Json] = {}
        for param in [*item.get("parameters", []), *item[method].get("parameters", [])]:
            param = self.resolve(doc, param)
            name = param["name"].lower() if param["in"] == "header" else param["name"]
            found[f"{param['in']} parameter {name}"] = param
        return found

    def compare_parameters(self, key: str, old: tuple[str, str], new: tuple[str, str]) -> None:
        params_a = self.parameters(self.old_doc, *old)
        params_b = self.parameters(self.new_doc, *new)
        for name in sorted(params_a.keys() | params_b.keys()):
            a, b = params_a.get(name), params_b.get(name)
            if b is None:
                old_param = params_a[name]
                label = f"{old_param['in']} parameter {old_param['name']}"
                self.add(label, "removed", removed(Position.REQUEST))
                continue
            label = f"{b['in']} parameter {b['name']}"
            if a is None:
                required = bool(b.get("required"))
                clients, server = input_added(required)
                if self.served_has(key, "parameters", name):
                    server = ALREADY_SERVED
                what = f"added ({'required' if required else 'optional'})"
                self.add(label, what, (clients, server))
            else:
                self.compare_fields(a, b, label, Position.REQUEST, skip={"name", "in"})

    def compare_fields(
        self, a: Json, b: Json, label: str, position: Position, skip: set[str]
    ) -> None:
        """Parameter or header fields: required, schema, content, serialization."""
        if bool(a.get("required")) != bool(b.get("required")):
            effect = Effect.NARROW if b.get("required") else Effect.WIDEN
            self.add(
                label,
                "now required" if b.get("required") else "no longer required",
                judge(effect, position),
            )
        self.schema(a.get("schema"), b.get("schema"), label, "", position, True)
        if "content" in a or "content" in b:
            self.compare_content(a.get("content", {}), b.get("content", {}), label, position, "")
        for key in sorted((a.keys() | b.keys()) - {"required", "schema", "content", *skip}):
            if a.get(key) != b.get(key):
                effect = Effect.ANNOTATION if is_annotation(key) else Effect.INCOMPATIBLE
                what = f"{key} changed from {show(a.get(key))} to {show(b.get(key))}"
                self.add(label, what, judge(effect, position))

    def compare_content(
        self, a: Json, b: Json, label: str, position: Position, key: str, *served_path: str
    ) -> None:
        for media in sorted(a.keys() | b.keys()):
            where = f"{label} ({media})"
            if media not in a:
                if position is Position.REQUEST:
                    verdicts = (
                        ok("clients keep sending the types they know"),
                        breaks("this server does not accept it yet"),
                    )
                else:
                    server = breaks(
                        "clients may ask for it and this server does not produce it yet"
                    )
                    if key and self.served_has(key, *served_path, "content", media):
                        server = ALREADY_SERVED
                    verdicts = ok("clients ask by Accept for the types they know"), server
                self.add(where, "media type added", verdicts)
            elif media not in b:
                if position is Position.REQUEST:
                    verdicts = (
                        breaks("clients sending it may be refused"),
                        ok("this server may keep accepting it"),
                    )
                else:
                    verdicts = (
                        breaks("clients asking for it may not get it"),
                        breaks("this server still produces it"),
                    )
                self.add(where, "media type removed", verdicts)
            else:
                self.schema(
                    a[media].get("schema"), b[media].get("schema"), where, "", position, False
                )

    def compare_responses(self, key: str, a: Json, b: Json) -> None:
        responses_a, responses_b = a.get("responses", {}), b.get("responses", {})
        for code in sorted(responses_a.keys() | responses_b.keys(), key=str):
            label = f"response {code}"
            if code not in responses_a:
                if "default" in responses_a and code != "default":
                    clients = ok("covered by the default response clients already handle")
                else:
                    clients = more_sent("clients may receive a status they do not handle")
                server = ok("this server need not send it")
                if self.served_has(key, "responses", str(code)):
                    server = ALREADY_SERVED
                self.add(label, "added", (clients, server))
                continue
            if code not in responses_b:
                if str(code).startswith("2"):
                    clients = breaks("the result clients read is no longer declared")
                else:
                    clients = ok("clients keep handling a status they will no longer get")
                self.add(label, "removed", (clients, breaks("this server still sends it")))
                continue
            old = self.resolve(self.old_doc, responses_a[code])
            new = self.resolve(self.new_doc, responses_b[code])
            self.compare_headers(str(code), old.get("headers", {}), new.get("headers", {}))
            self.compare_content(
                old.get("content", {}), new.get("content", {}), label, Position.RESPONSE,
                key, "responses", str(code),
            )  # fmt: skip

    def compare_headers(self, code: str, a: Json, b: Json) -> None:
        headers_a = {name.lower(): (name, spec) for name, spec in a.items()}
        headers_b = {name.lower(): (name, spec) for name, spec in b.items()}
        for lower in sorted(headers_a.keys() | headers_b.keys()):
            name = (headers_b.get(lower) or headers_a[lower])[0]
            label = f"response {code}, header {name}"
            if lower not in headers_a:
                spec = self.resolve(self.new_doc, headers_b[lower][1])
                self.add(label, "added", output_added(bool(spec.get("required"))))
            elif lower not in headers_b:
                self.add(label, "removed", removed(Position.RESPONSE))
            else:
                old = self.resolve(self.old_doc, headers_a[lower][1])
                new = self.resolve(self.new_doc, headers_b[lower][1])
                self.compare_fields(old, new, label, Position.RESPONSE, skip=set())

    def compare_request_body(self, a: Json, b: Json) -> None:
        body_a = self.resolve(self.old_doc, a.get("requestBody"))
        body_b = self.resolve(self.new_doc, b.get("requestBody"))
        if not body_a and not body_b:
            return
        if not body_a:
            self.add("request body", "added", input_added(bool(body_b.get("required"))))
        elif not body_b:
            self.add("request body", "removed", removed(Position.REQUEST))
        else:
            self.compare_fields(body_a, body_b, "request body", Position.REQUEST, skip=set())

    def compare_security(self, key: str, a: Json, b: Json) -> None:
        reqs_a = {requirement_label(r): r for r in effective_security(self.old_doc, a)}
        reqs_b = {requirement_label(r): r for r in effective_security(self.new_doc, b)}
        for label in sorted(reqs_b.keys() - reqs_a.keys()):
            server = breaks("this server must accept it")
            served = self.served and effective_security(self.served, self.served_operation(key))
            if served and label in {requirement_label(r) for r in served}:
                server = ALREADY_SERVED
            self.add(
                f"security {label}",
                "added",
                (ok("clients keep their way of authenticating"), server),
            )
        for label in sorted(reqs_a.keys() - reqs_b.keys()):
            self.add(
                f"security {label}",
                "removed",
                (
                    breaks("clients authenticating this way may be refused"),
                    ok("this server still accepts it"),
                ),
            )
        schemes = {name for r in [*reqs_a.values(), *reqs_b.values()] for name in r}
        for name in sorted(schemes):
            old = self.old_doc.get("components", {}).get("securitySchemes", {}).get(name)
            new = self.new_doc.get("components", {}).get("securitySchemes", {}).get(name)
            if old and new and old != new:
                for key in sorted(old.keys() | new.keys()):
                    if old.get(key) != new.get(key):
                        what = f"{key} changed from {show(old.get(key))} to {show(new.get(key))}"
                        verdict = breaks("both sides must authenticate the same way")
                        self.add(f"security scheme {name}", what, (verdict, verdict))

    def served_operation(self, key: str) -> Json:
        for path, method, operation in iter_operations(self.served):
            if operation_key(path, method) == key:
                return dict(operation)
        return {}

    def compare_tags(self, a: Json, b: Json) -> None:
        tags_a, tags_b = a.get("tags", []), b.get("tags", [])
        for tag in tags_b:
            if tag not in tags_a:
                self.add(
                    f"tag {tag}",
                    "added",
                    (ok("the generated client gains a method"), ok("grouping only")),
                )
        for tag in tags_a:
            if tag not in tags_b:
                clients = breaks(
                    f"the generated client's {tag.replace(' ', '')}Api loses the method"
                )
                self.add(f"tag {tag}", "removed", (clients, ok("grouping only")))

    def compare_operation(self, key: str, location: tuple[str, str], a: Json, b: Json) -> None:
        """Compare operation `key` (at `location`, path and method) from `a` to `b`."""
        if a.get("operationId") != b.get("operationId"):
            self.add(
                "operation",
                f"operationId changed from {show(a.get('operationId'))} "
                f"to {show(b.get('operationId'))}",
                (
                    breaks("generated method names change"),
                    breaks("the generated controller calls the handler of the new name"),
                ),
            )
        self.compare_parameters(key, location, location)
        self.compare_request_body(a, b)
        self.compare_responses(key, a, b)
        self.compare_security(key, a, b)
        self.compare_tags(a, b)
        handled = {"operationId", "parameters", "requestBody", "responses", "security", "tags"}
        for field_name in sorted((a.keys() | b.keys()) - handled):
            if a.get(field_name) != b.get(field_name):
                neutral = is_annotation(field_name) or field_name == "servers"
                verdict = (
                    ok("annotation only") if neutral else breaks("not understood by this tool")
                )
                what = (
                    f"{field_name} changed from {show(a.get(field_name))} "
                    f"to {show(b.get(field_name))}"
                )
                self.add("operation", what, (verdict, verdict))


def operation_changes(old: Json, new: Json, served: Json | None = None) -> list[OperationChanges]:
    """Changes to each served operation from extract `old` to extract `new`, matched by
    method and path.

    `served` is the spec this service serves now (openapi.yaml), so that what the
    overlay already provides is not held against the server.  An operation missing
    from `new` is reported as removed.
    """

    def located(doc: Json) -> dict[str, tuple[str, str, Json]]:
        return {operation_key(p, m): (p, m, op) for p, m, op in iter_operations(doc)}

    old_ops, new_ops = located(old), located(new)
    result = []
    for key in SERVED_OPERATIONS:
        before, after = old_ops.get(key), new_ops.get(key)
        if before is None:
            continue
        path, method, operation = before
        entry = OperationChanges(str(operation.get("operationId", key)), key)
        if after is None:
            verdict = breaks("this service serves it; upstream no longer defines it")
            entry.changes.append(Change("operation", "removed upstream", verdict, verdict))
        else:
            walker = OperationDiff(old, new, served)
            walker.compare_operation(key, (path, method), operation, after[2])
            entry.changes = walker.changes
        result.append(entry)
    return result


@dataclass(frozen=True)
class OtherOperations:
    changed: int
    added: int
    removed: int
    unchanged: int


def other_operations(
    old: dict[str, str], new: dict[str, str], served_keys: set[str]
) -> OtherOperations:
    """Counts of the upstream operations outside the served ones, from their digests."""
    old_keys, new_keys = old.keys() - served_keys, new.keys() - served_keys
    both = old_keys & new_keys
    changed = sum(1 for key in both if old[key] != new[key])
    return OtherOperations(
        changed, len(new_keys - old_keys), len(old_keys - new_keys), len(both) - changed
    )
