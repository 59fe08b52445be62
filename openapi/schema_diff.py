"""Compare the schemas of an old and a new document value by value, judging each change."""

from __future__ import annotations

from openapi.extraction import Json
from openapi.rules import (
    LOWER_BOUNDS,
    NARROWING_FLAGS,
    RESTRICTIONS,
    SCHEMA_KEYS_HANDLED,
    UPPER_BOUNDS,
    Change,
    Effect,
    Position,
    Verdict,
    bound_change,
    enum_changes,
    input_added,
    is_annotation,
    judge,
    output_added,
    removed,
    show,
    type_effect,
)
from sysinfo_contract.refs import ref_target, resolve


class SchemaDiff:
    """Collects the changes between schemas of `old_doc` and `new_doc`."""

    def __init__(self, old_doc: Json, new_doc: Json) -> None:
        self.old_doc = old_doc
        self.new_doc = new_doc
        self.changes: list[Change] = []

    def add(self, where: str, what: str, verdicts: tuple[Verdict, Verdict]) -> None:
        self.changes.append(Change(where, what, *verdicts))

    @staticmethod
    def resolve(doc: Json, node: Json) -> Json:
        return resolve(doc, node)

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
            if (ref_a, ref_b) in seen:
                return
            # Upstream puts keywords beside a $ref (Error.code: ErrorCode's enum again);
            # generators read both, so each side is compared as the target with its
            # siblings over it: dropping siblings that repeat the target changes nothing.
            if len(a) > 1 or len(b) > 1:
                inline_a = {**self.resolve(self.old_doc, a), **a}
                inline_b = {**self.resolve(self.new_doc, b), **b}
                del inline_a["$ref"], inline_b["$ref"]
                pair = seen | {(ref_a, ref_b)}
                self.keywords(inline_a, inline_b, where, subject, position, text, pair)
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
            # Absent or true allows any extra member, a schema constrains them, false
            # forbids them.
            opened = extra_b is True or extra_a is False
            effect = Effect.WIDEN if opened else Effect.NARROW
            what = f"additionalProperties changed from {show(extra_a)} to {show(extra_b)}"
            self.add(at, what, judge(effect, position))
