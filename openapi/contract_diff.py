"""What changed between two extracts of the served operations, and whom it breaks.

Each change is judged twice: for *clients* (programs written against the old contract,
the generated `sysinfo_client` among them, talking to a service that follows the new
one) and for *the server* (this service as built, which implements the old contract,
now held to the new one).  A change is *breaking* for one side when that side can fail
or fall outside the contract without being changed itself.

The rules, in terms of where a value travels (requests: client -> server; responses:
server -> client):

- A schema change either *widens* the values allowed (enum value added, type integer ->
  number, bound relaxed, `required` entry dropped, nullable allowed), *narrows* them
  (the reverse), or *changes* them incompatibly (type string -> integer, pattern
  rewritten).  Widening a response breaks clients (they may receive what they were not
  told to expect) and not the server (what it sends stays valid).  Narrowing a response
  breaks the server (it may send what is no longer allowed), not clients.  In requests
  it is mirrored: widening breaks the server (it must accept what it may not handle),
  narrowing breaks clients (what they send may be refused).  An incompatible change
  breaks both; annotations (deprecated, readOnly, title, x-*) break neither.
- An input added (parameter, request body, request property) breaks the server, which
  does not honour it yet (the generated controller would pass it to a handler that does
  not take it); it breaks clients only when required.  An output added (response
  property or header) breaks nobody, unless required: then the server, which does not
  send it yet.
- Anything removed (parameter, property, header) breaks clients, who lose what they
  send or read, and not the server, which may keep honouring or sending it.
- A response added breaks clients, who may meet a status they do not handle, unless
  the old operation had a `default` response covering it; not the server, which need
  not send it.  A response removed breaks the server, which still sends it, and clients
  only when it was a success response (their result is no longer declared).
- A response media type added breaks the server (clients may ask for a type it does not
  produce), not clients (they ask by Accept for the types they know); removed breaks
  both (clients asking for it, and the server still sending it).
- A security alternative added breaks the server (it must accept that way of
  authenticating); one removed breaks clients (their way may be refused).  A changed
  security scheme breaks both.
- A tag removed breaks clients (the generated client files an operation's method under
  each of its tags); tags added break nobody.  An operation moved to another path or
  method breaks both; one that upstream no longer defines cannot be taken in.
- Where the server already serves what upstream adds (through overlay.yaml), the server
  is not broken by it.
- Anything else this module does not know is reported and breaks both, so that no
  structural change passes unjudged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from openapi.extraction import (
    SERVED_OPERATIONS,
    Json,
    effective_security,
    iter_operations,
    operation_key,
    ref_target,
)


@dataclass(frozen=True)
class Verdict:
    breaking: bool
    why: str


@dataclass(frozen=True)
class Change:
    where: str
    what: str
    clients: Verdict
    server: Verdict

    @property
    def breaking(self) -> bool:
        return self.clients.breaking or self.server.breaking


@dataclass
class OperationChanges:
    operation_id: str
    key: str
    changes: list[Change] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return any(change.breaking for change in self.changes)


class Position(Enum):
    REQUEST = "request"
    RESPONSE = "response"


class Effect(Enum):
    WIDEN = "widen"
    NARROW = "narrow"
    INCOMPATIBLE = "incompatible"
    ANNOTATION = "annotation"


def ok(why: str) -> Verdict:
    return Verdict(False, why)


def breaks(why: str) -> Verdict:
    return Verdict(True, why)


def judge(effect: Effect, position: Position) -> tuple[Verdict, Verdict]:
    """(clients, server) verdicts for a change of the values allowed at a position."""
    if effect is Effect.ANNOTATION:
        return ok("annotation only"), ok("annotation only")
    if effect is Effect.INCOMPATIBLE:
        return breaks("values valid before may be invalid now"), breaks(
            "values valid before may be invalid now"
        )
    widen = effect is Effect.WIDEN
    if position is Position.RESPONSE:
        if widen:
            return breaks("clients may receive what they were not told to expect"), ok(
                "what this server sends stays valid"
            )
        return ok("clients receive a subset of what they handle"), breaks(
            "this server may send what is no longer allowed"
        )
    if widen:
        return ok("what clients send stays valid"), breaks(
            "this server must accept requests it may not handle yet"
        )
    return breaks("requests clients send may now be refused"), ok("this server still accepts them")


def input_added(required: bool) -> tuple[Verdict, Verdict]:
    server = breaks("not honoured by this server yet")
    if required:
        return breaks("clients do not send it"), server
    return ok("optional: clients need not send it"), server


def output_added(required: bool) -> tuple[Verdict, Verdict]:
    if required:
        return ok("clients may ignore it"), breaks("this server does not send it yet")
    return ok("clients may ignore it"), ok("optional: this server may leave it out")


def removed(position: Position) -> tuple[Verdict, Verdict]:
    if position is Position.REQUEST:
        return breaks("what clients send is no longer honoured"), ok(
            "this server may keep honouring it"
        )
    return breaks("clients that read it will no longer get it"), ok(
        "this server may keep sending it"
    )


ALREADY_SERVED = ok("already served here (overlay.yaml)")

UPPER_BOUNDS = ("maximum", "maxLength", "maxItems", "maxProperties")
LOWER_BOUNDS = ("minimum", "minLength", "minItems", "minProperties")
# A true flag, or the keyword's presence, allows fewer values.
NARROWING_FLAGS = ("exclusiveMaximum", "exclusiveMinimum", "uniqueItems")
# Present narrows, absent widens, rewritten is incompatible.
RESTRICTIONS = ("format", "pattern", "multipleOf")
ANNOTATIONS = frozenset({"title", "deprecated", "readOnly", "writeOnly", "xml"})
SCHEMA_KEYS_HANDLED = frozenset(
    {"$ref", "type", "nullable", "enum", "properties", "required", "items",
     "additionalProperties", *UPPER_BOUNDS, *LOWER_BOUNDS, *NARROWING_FLAGS, *RESTRICTIONS}
)  # fmt: skip


def show(value: Json) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def is_annotation(key: str) -> bool:
    return key in ANNOTATIONS or key.startswith("x-")


class OperationDiff:
    """Walks one served operation in the old and new extract, collecting changes."""

    def __init__(self, old_doc: Json, new_doc: Json, served: Json | None) -> None:
        self.old_doc = old_doc
        self.new_doc = new_doc
        self.served = served
        self.changes: list[Change] = []

    def add(self, where: str, what: str, verdicts: tuple[Verdict, Verdict]) -> None:
        self.changes.append(Change(where, what, *verdicts))

    # --- references ---------------------------------------------------------------

    @staticmethod
    def resolve(doc: Json, node: Json) -> Json:
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            if node["$ref"] in seen:
                break
            seen.add(node["$ref"])
            section, name = ref_target(node["$ref"])
            node = doc.get("components", {}).get(section, {}).get(name, {})
        return node

    # --- schemas ------------------------------------------------------------------

    def schema(
        self,
        a: Json,
        b: Json,
        where: str,
        subject: str,
        position: Position,
        text: bool,
        seen: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        """Compare two schemas; `text` marks values carried as text (headers, parameters)."""
        at = f"{where}, schema {subject}" if subject else where
        if a is None or b is None:
            if a is not None or b is not None:
                effect = Effect.NARROW if a is None else Effect.WIDEN
                self.add(
                    at, "schema added" if a is None else "schema removed", judge(effect, position)
                )
            return
        ref_a, ref_b = a.get("$ref"), b.get("$ref")
        if ref_a and ref_b:
            # Upstream puts keywords beside a $ref (Error.code: an enum beside ErrorCode);
            # generators read both, so both are compared.
            siblings_a = {k: v for k, v in a.items() if k != "$ref"}
            siblings_b = {k: v for k, v in b.items() if k != "$ref"}
            if siblings_a or siblings_b:
                self.keywords(siblings_a, siblings_b, where, subject, position, text, seen)
            if (ref_a, ref_b) in seen:
                return
            name = ref_target(ref_b)[1]
            self.schema(
                self.resolve(self.old_doc, a),
                self.resolve(self.new_doc, b),
                where,
                name,
                position,
                text,
                seen | {(ref_a, ref_b)},
            )
            return
        inline_a = {**self.resolve(self.old_doc, a), **a} if ref_a else a
        inline_b = {**self.resolve(self.new_doc, b), **b} if ref_b else b
        inline_a.pop("$ref", None)
        inline_b.pop("$ref", None)
        self.keywords(inline_a, inline_b, where, subject, position, text, seen)

    def keywords(
        self,
        a: Json,
        b: Json,
        where: str,
        subject: str,
        position: Position,
        text: bool,
        seen: frozenset[tuple[str, str]],
    ) -> None:
        at = f"{where}, schema {subject}" if subject else where

        def note(what: str, effect: Effect) -> None:
            self.add(at, what, judge(effect, position))

        type_change = type_effect(a.get("type"), b.get("type"), text)
        if type_change:
            note(*type_change)
        if bool(a.get("nullable")) != bool(b.get("nullable")):
            if b.get("nullable"):
                note("null now allowed", Effect.WIDEN)
            else:
                note("null no longer allowed", Effect.NARROW)
        for what, effect in enum_changes(a, b):
            note(what, effect)
        for key in RESTRICTIONS:
            if a.get(key) != b.get(key):
                if key not in b:
                    note(f"{key} {show(a[key])} dropped", Effect.WIDEN)
                elif key not in a:
                    note(f"{key} {show(b[key])} added", Effect.NARROW)
                else:
                    note(
                        f"{key} changed from {show(a[key])} to {show(b[key])}", Effect.INCOMPATIBLE
                    )
        for key in (*UPPER_BOUNDS, *LOWER_BOUNDS):
            if a.get(key) != b.get(key):
                note(*bound_change(key, a.get(key), b.get(key)))
        for key in NARROWING_FLAGS:
            if bool(a.get(key)) != bool(b.get(key)):
                note(
                    f"{key} {'set' if b.get(key) else 'dropped'}",
                    Effect.NARROW if b.get(key) else Effect.WIDEN,
                )
        self.properties(a, b, where, subject, position, seen)
        if "items" in a or "items" in b:
            self.schema(
                a.get("items"), b.get("items"), where, f"{subject}[]", position, False, seen
            )
        self.additional_properties(a, b, where, subject, position, seen)
        for key in sorted((a.keys() | b.keys()) - SCHEMA_KEYS_HANDLED):
            if a.get(key) == b.get(key):
                continue
            effect = Effect.ANNOTATION if is_annotation(key) else Effect.INCOMPATIBLE
            note(f"{key} changed from {show(a.get(key))} to {show(b.get(key))}", effect)

    def properties(
        self,
        a: Json,
        b: Json,
        where: str,
        subject: str,
        position: Position,
        seen: frozenset[tuple[str, str]],
    ) -> None:
        props_a, props_b = a.get("properties", {}), b.get("properties", {})
        required_a, required_b = set(a.get("required", [])), set(b.get("required", []))
        prefix = f"{where}, schema {subject}" if subject else where
        for name in sorted(props_a.keys() | props_b.keys()):
            if name not in props_a:
                required = name in required_b
                verdicts = (
                    input_added(required)
                    if position is Position.REQUEST
                    else output_added(required)
                )
                kind = "required" if required else "optional"
                self.add(prefix, f"property {name} added ({kind})", verdicts)
            elif name not in props_b:
                self.add(prefix, f"property {name} removed", removed(position))
            else:
                self.schema(
                    props_a[name], props_b[name], where, f"{subject}.{name}", position, False, seen
                )
        both = props_a.keys() & props_b.keys()
        for name in sorted((required_b - required_a) & (both | (required_b - props_b.keys()))):
            self.add(prefix, f"{name} now required", judge(Effect.NARROW, position))
        for name in sorted((required_a - required_b) & (both | (required_a - props_a.keys()))):
            self.add(prefix, f"{name} no longer required", judge(Effect.WIDEN, position))

    def additional_properties(
        self,
        a: Json,
        b: Json,
        where: str,
        subject: str,
        position: Position,
        seen: frozenset[tuple[str, str]],
    ) -> None:
        extra_a, extra_b = a.get("additionalProperties", True), b.get("additionalProperties", True)
        if isinstance(extra_a, dict) and isinstance(extra_b, dict):
            self.schema(extra_a, extra_b, where, f"{subject}{{*}}", position, False, seen)
        elif extra_a != extra_b:
            at = f"{where}, schema {subject}" if subject else where
            effect = Effect.WIDEN if extra_b is True else Effect.NARROW
            if isinstance(extra_a, dict) or isinstance(extra_b, dict):
                effect = Effect.WIDEN if extra_b is True or extra_a is False else Effect.NARROW
            what = f"additionalProperties changed from {show(extra_a)} to {show(extra_b)}"
            self.add(at, what, judge(effect, position))

    # --- operation parts ----------------------------------------------------------

    def served_has(self, operation_id: str, *path: str) -> bool:
        """Whether the spec this service serves has `path` inside the operation."""
        if self.served is None:
            return False
        for op_path, method, operation in iter_operations(self.served):
            if operation.get("operationId") != operation_id:
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

    def compare_parameters(self, op_id: str, old: tuple[str, str], new: tuple[str, str]) -> None:
        params_a = self.parameters(self.old_doc, *old)
        params_b = self.parameters(self.new_doc, *new)
        for key in sorted(params_a.keys() | params_b.keys()):
            a, b = params_a.get(key), params_b.get(key)
            if b is None:
                old_param = params_a[key]
                label = f"{old_param['in']} parameter {old_param['name']}"
                self.add(label, "removed", removed(Position.REQUEST))
                continue
            label = f"{b['in']} parameter {b['name']}"
            if a is None:
                required = bool(b.get("required"))
                clients, server = input_added(required)
                if self.served_has(op_id, "parameters", key):
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
        self, a: Json, b: Json, label: str, position: Position, op_id: str, *served_path: str
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
                    if op_id and self.served_has(op_id, *served_path, "content", media):
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

    def compare_responses(self, op_id: str, a: Json, b: Json) -> None:
        responses_a, responses_b = a.get("responses", {}), b.get("responses", {})
        for code in sorted(responses_a.keys() | responses_b.keys(), key=str):
            label = f"response {code}"
            if code not in responses_a:
                if "default" in responses_a and code != "default":
                    clients = ok("covered by the default response clients already handle")
                else:
                    clients = breaks("clients may receive a status they do not handle")
                server = ok("this server need not send it")
                if self.served_has(op_id, "responses", str(code)):
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
            self.compare_headers(op_id, str(code), old.get("headers", {}), new.get("headers", {}))
            self.compare_content(
                old.get("content", {}), new.get("content", {}), label, Position.RESPONSE,
                op_id, "responses", str(code),
            )  # fmt: skip

    def compare_headers(self, op_id: str, code: str, a: Json, b: Json) -> None:
        headers_a = {name.lower(): (name, spec) for name, spec in a.items()}
        headers_b = {name.lower(): (name, spec) for name, spec in b.items()}
        for key in sorted(headers_a.keys() | headers_b.keys()):
            name = (headers_b.get(key) or headers_a[key])[0]
            label = f"response {code}, header {name}"
            if key not in headers_a:
                spec = self.resolve(self.new_doc, headers_b[key][1])
                self.add(label, "added", output_added(bool(spec.get("required"))))
            elif key not in headers_b:
                self.add(label, "removed", removed(Position.RESPONSE))
            else:
                old = self.resolve(self.old_doc, headers_a[key][1])
                new = self.resolve(self.new_doc, headers_b[key][1])
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

    def compare_security(self, op_id: str, a: Json, b: Json) -> None:
        reqs_a = {requirement_label(r): r for r in effective_security(self.old_doc, a)}
        reqs_b = {requirement_label(r): r for r in effective_security(self.new_doc, b)}
        for label in sorted(reqs_b.keys() - reqs_a.keys()):
            server = breaks("this server must accept it")
            served = self.served and effective_security(self.served, self.served_operation(op_id))
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

    def served_operation(self, op_id: str) -> Json:
        for _, _, operation in iter_operations(self.served):
            if operation.get("operationId") == op_id:
                return operation
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

    def compare_operation(
        self, op_id: str, old: tuple[str, str, Json], new: tuple[str, str, Json]
    ) -> None:
        (path_a, method_a, a), (path_b, method_b, b) = old, new
        if (path_a, method_a) != (path_b, method_b):
            verdict = breaks("requests go to another path or method")
            what = (
                f"moved from {operation_key(path_a, method_a)} to {operation_key(path_b, method_b)}"
            )
            self.add("operation", what, (verdict, verdict))
        self.compare_parameters(op_id, (path_a, method_a), (path_b, method_b))
        self.compare_request_body(a, b)
        self.compare_responses(op_id, a, b)
        self.compare_security(op_id, a, b)
        self.compare_tags(a, b)
        handled = {"operationId", "parameters", "requestBody", "responses", "security", "tags"}
        for key in sorted((a.keys() | b.keys()) - handled):
            if a.get(key) != b.get(key):
                neutral = is_annotation(key) or key == "servers"
                verdict = (
                    ok("annotation only") if neutral else breaks("not understood by this tool")
                )
                what = f"{key} changed from {show(a.get(key))} to {show(b.get(key))}"
                self.add("operation", what, (verdict, verdict))


def requirement_label(requirement: Json) -> str:
    if not requirement:
        return "anonymous access"
    parts = []
    for name, scopes in sorted(requirement.items()):
        parts.append(f"{name} [{', '.join(scopes)}]" if scopes else name)
    return " + ".join(parts)


def type_effect(a: Any, b: Any, text: bool) -> tuple[str, Effect] | None:
    if a == b:
        return None
    if a is None:
        return f"type {b} set", Effect.NARROW
    if b is None:
        return f"type {a} dropped", Effect.WIDEN
    if (a, b) == ("integer", "number") or (text and b == "string"):
        return f"type widened from {a} to {b}", Effect.WIDEN
    if (a, b) == ("number", "integer") or (text and a == "string"):
        return f"type narrowed from {a} to {b}", Effect.NARROW
    return f"type changed from {a} to {b}", Effect.INCOMPATIBLE


def enum_changes(a: Json, b: Json) -> Iterator[tuple[str, Effect]]:
    if "enum" not in a and "enum" not in b:
        return
    if "enum" not in a:
        yield f"values limited to {show(b['enum'])}", Effect.NARROW
    elif "enum" not in b:
        yield "enum dropped: any value allowed", Effect.WIDEN
    else:
        for value in b["enum"]:
            if value not in a["enum"]:
                yield f"enum value {show(value)} added", Effect.WIDEN
        for value in a["enum"]:
            if value not in b["enum"]:
                yield f"enum value {show(value)} removed", Effect.NARROW


def bound_change(key: str, a: Any, b: Any) -> tuple[str, Effect]:
    if a is None:
        return f"{key} {b} set", Effect.NARROW
    if b is None:
        return f"{key} {a} dropped", Effect.WIDEN
    looser = b > a if key in UPPER_BOUNDS else b < a
    return f"{key} changed from {a} to {b}", Effect.WIDEN if looser else Effect.NARROW


def operation_changes(old: Json, new: Json, served: Json | None = None) -> list[OperationChanges]:
    """Changes to each served operation from extract `old` to extract `new`.

    `served` is the spec this service serves now (openapi.yaml), so that what the
    overlay already provides is not held against the server.  An operation missing
    from `new` is reported as removed.
    """

    def located(doc: Json) -> dict[str, tuple[str, str, Json]]:
        return {
            op["operationId"]: (p, m, op)
            for p, m, op in iter_operations(doc)
            if "operationId" in op
        }

    old_ops, new_ops = located(old), located(new)
    result = []
    for op_id in SERVED_OPERATIONS:
        before, after = old_ops.get(op_id), new_ops.get(op_id)
        if before is None:
            continue
        entry = OperationChanges(op_id, operation_key(*before[:2]))
        if after is None:
            verdict = breaks("this service serves it; upstream no longer defines it")
            entry.changes.append(Change("operation", "removed upstream", verdict, verdict))
        else:
            walker = OperationDiff(old, new, served)
            walker.compare_operation(op_id, before, after)
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
