"""openapi/rules.py through contract_diff: each kind of upstream change, judged for
clients and for the server, on changed copies of the committed extract."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import yaml

from openapi import spectool
from openapi.contract_diff import operation_changes
from tests.support.upstream_like import committed_extract

Judged = list[tuple[str, str, bool, bool]]


def judged(change: Callable[[Any], None], operation_id: str) -> Judged:
    """(where, what, breaks clients, breaks the server) for one operation's changes."""
    old = committed_extract()
    new = copy.deepcopy(old)
    change(new)
    served = yaml.safe_load(spectool.SPEC.read_text(encoding="utf-8"))
    found = {op.operation_id: op for op in operation_changes(old, new, served)}
    return [
        (c.where, c.what, c.clients.breaking, c.server.breaking)
        for c in found[operation_id].changes
    ]


def test_narrowing_a_request_header_breaks_clients_not_the_server() -> None:
    def limit(doc: Any) -> None:
        doc["components"]["parameters"]["TraceSpan"]["schema"]["maxLength"] = 64

    assert judged(limit, "GetHealth") == [
        ("header parameter Zap-Trace-Span", "maxLength 64 set", True, False)
    ]
    # Upstream's GetPing takes no Zap-Trace-Span: no change there.
    assert judged(limit, "GetPing") == []


def test_widening_a_request_header_breaks_the_server_not_clients() -> None:
    def widen(doc: Any) -> None:
        doc["components"]["parameters"]["TraceSpan"]["required"] = False
        doc["components"]["parameters"]["TraceSpan"]["schema"] = {}

    assert judged(widen, "GetHealth") == [
        ("header parameter Zap-Trace-Span", "type string dropped", False, True)
    ]


def test_a_recursive_schema_change_is_reported_once_per_response() -> None:
    def add_status(doc: Any) -> None:
        doc["components"]["schemas"]["HealthCheck"]["properties"]["status"]["enum"].append("warn")

    assert judged(add_status, "GetHealth") == [
        (f"response {code} (application/json), schema HealthCheck.status",
         'enum value "warn" added', True, False)
        for code in ("200", "503")
    ]  # fmt: skip


def test_response_properties_removed_or_required_added() -> None:
    def reshape(doc: Any) -> None:
        ready = doc["components"]["schemas"]["Ready"]
        del ready["properties"]["up"]
        ready["properties"]["id"] = {"type": "string"}
        ready["required"] = ["id", "status"]

    where = "response 200 (application/json), schema Ready"
    assert judged(reshape, "GetReady") == [
        (where, "property id added (required)", False, True),
        (where, "property up removed", True, False),
        (where, "status now required", False, True),
    ]


def test_media_types_added_to_a_response_break_the_server_unless_served() -> None:
    def offer(doc: Any) -> None:
        content = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
        content["application/openmetrics-text"] = {"schema": {"type": "string"}}
        content["text/html"] = {"schema": {"type": "string"}}

    assert judged(offer, "GetMetrics") == [
        ("response 200 (application/openmetrics-text)", "media type added", False, False),
        ("response 200 (text/html)", "media type added", False, True),
    ]


def test_security_alternatives_and_schemes() -> None:
    def anonymous_too(doc: Any) -> None:
        doc["paths"]["/ready"]["get"]["security"] = [{}, {"TokenAuthentication": []}]

    assert judged(anonymous_too, "GetReady") == [
        ("security anonymous access", "added", False, False)  # the overlay serves it already
    ]

    def query_token(doc: Any) -> None:
        doc["components"]["securitySchemes"]["TokenAuthentication"]["in"] = "query"

    assert judged(query_token, "GetPing") == [
        ("security scheme TokenAuthentication", 'in changed from "header" to "query"', True, True)
    ]

    def no_token(doc: Any) -> None:
        doc["security"] = [{}]

    changes = judged(no_token, "HeadPing")
    assert ("security TokenAuthentication", "removed", True, False) in changes
    assert ("security anonymous access", "added", False, False) in changes


def test_responses_added_or_removed() -> None:
    def reshape(doc: Any) -> None:
        responses = doc["paths"]["/ping"]["get"]["responses"]
        responses["429"] = {"$ref": "#/components/responses/GeneralServerError"}
        health = doc["paths"]["/health"]["get"]["responses"]
        del health["503"]

    assert judged(reshape, "GetPing") == [("response 429", "added", True, False)]
    assert judged(reshape, "GetHealth") == [("response 503", "removed", False, True)]


def test_tags_move_methods_of_the_generated_client() -> None:
    def retag(doc: Any) -> None:
        doc["paths"]["/ready"]["get"]["tags"] = ["Ready", "Status"]

    assert judged(retag, "GetReady") == [
        ("tag Status", "added", False, False),
        ("tag System information endpoints", "removed", True, False),
    ]


def test_an_operation_moved_is_removed_and_unknown_keywords_are_not_waved_through() -> None:
    def move(doc: Any) -> None:
        doc["paths"]["/readyz"] = doc["paths"].pop("/ready")

    assert judged(move, "GetReady") == [("operation", "removed upstream", True, True)]

    def annotate(doc: Any) -> None:
        doc["components"]["schemas"]["Ready"]["properties"]["up"]["contentEncoding"] = "utf-8"

    assert judged(annotate, "GetReady") == [
        (
            "response 200 (application/json), schema Ready.up",
            'contentEncoding changed from null to "utf-8"',
            True,
            True,
        ),
    ]


def test_an_operation_renamed_is_matched_by_method_and_path() -> None:
    def rename(doc: Any) -> None:
        doc["paths"]["/ready"]["get"]["operationId"] = "GetReadiness"

    assert judged(rename, "GetReady") == [
        ("operation", 'operationId changed from "GetReady" to "GetReadiness"', True, True),
    ]
    old = committed_extract()
    new = copy.deepcopy(old)
    rename(new)
    (ready,) = [op for op in operation_changes(old, new) if op.key == "GET /ready"]
    assert ready.changes[0].clients.why == "generated method names change"
