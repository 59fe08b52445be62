"""Who a change to a served operation breaks: clients of this service, or this server.

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
  each of its tags); tags added break nobody.  Operations are matched by method and
  path: an operationId renamed breaks clients (generated method names change) and the
  server (its generated controller calls the handler of the new name); one that
  upstream no longer defines at its method and path cannot be taken in.
- Where the server already serves what upstream adds (through overlay.yaml), the server
  is not broken by it.
- Anything else this module does not know is reported and breaks both, so that no
  structural change passes unjudged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from openapi.extraction import Json


@dataclass(frozen=True)
class Verdict:
    breaking: bool
    why: str
    # Breaking for clients only because the server may send more than before (a value,
    # response or status they were not told of): what the overlay may declare, since
    # the service sends it whatever upstream says.
    more_sent: bool = False


@dataclass(frozen=True)
class Change:
    where: str
    what: str
    clients: Verdict
    server: Verdict

    @property
    def breaking(self) -> bool:
        return self.clients.breaking or self.server.breaking


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


def more_sent(why: str) -> Verdict:
    return Verdict(True, why, more_sent=True)


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
            return more_sent("clients may receive what they were not told to expect"), ok(
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
