"""Is a response a success the spec allows, or an InfluxDB error with the right status?

Used by the fuzz tests on responses to requests the test built byte by byte, so it
judges from the response and the (decoded) path and method alone. The reading of the
spec is `influx-metrics conform`'s (impl/client/conform/judge.py): one judge, not two. Added
here is what only this service promises: errors in exactly influxd's Content-Type with
a message and never a traceback, and the statuses beyond influxd's its codes come with.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from impl.client.conform import exposition_rules, judge, parsing
from impl.client.conform.contract import carried_spec
from impl.client.conform.model import Received
from impl.client.rawhttp import RawResponse
from impl.errors import JSON_CONTENT_TYPE
from impl.server.docs import DOCS_PATH, SPEC_JSON_PATH, SPEC_YAML_PATH

# The docs (impl/server/docs.py) are served beside the API and are not part of the spec.
DOCS_PAGES = (DOCS_PATH, SPEC_JSON_PATH, SPEC_YAML_PATH)
# Statuses a code has besides influxd's (impl/errors.py explains why): 406 and 408
# have no code of their own in the enum; 431 is a too-large request head.
EXTRA_STATUSES = {"invalid": {406, 408}, "request too large": {431}}


def _received(response: RawResponse) -> Received:
    return Received(response.status, "", tuple(response.headers), response.body)


def decoded_path(target: bytes) -> str:
    """The path the server routes on, as uvicorn decodes a request target; an
    absolute-form target (`http://host/ping`) is routed by its path."""
    raw = target.split(b"?", 1)[0]
    path = unquote(raw.decode("ascii"))
    if path.startswith(("http://", "https://")):
        return urlsplit(path).path or "/"
    return path


def check_influx_error(response: RawResponse, head: bool = False) -> str:
    """Asserts the InfluxDB error shape; returns the code."""
    spec = carried_spec()
    assert response.header("Content-Type") == JSON_CONTENT_TYPE, response
    code = response.header("X-Platform-Error-Code")
    assert code is not None, response
    assert not judge.code_enum_problems(spec, code), response
    assert not judge.code_status_problems(code, response.status, EXTRA_STATUSES), response
    if not head:
        received = _received(response)
        problems = judge.error_body_problems(spec, None, received)
        assert not problems, (problems, response)
        document = judge.error_document(received)
        assert document is not None and document["code"] == code and document.get("message")
        assert b"Traceback" not in response.body
    return code


def check_success(response: RawResponse, path: str, method: str) -> None:
    """Asserts that the spec declares this status, media type and body for the operation."""
    spec = carried_spec()
    operation = spec.operation_for(path, method)
    assert operation is not None, f"{method} {path} succeeded but is no operation: {response}"
    received = _received(response)
    problems = judge.status_problems(operation, response.status)
    problems += judge.media_type_problems(operation, received)
    declared = operation.declared(response.status)
    # A HEAD answer names the GET's media type (RFC 9110 9.3.2) though no body is declared.
    if declared is not None and not declared.content and method != "HEAD":
        assert response.header("Content-Type") is None, response
    if method == "HEAD":
        assert response.body == b"", response
    else:
        problems += judge.body_problems(spec, operation, received)
        problems += _exposition_problems(received)
    assert not problems, f"{method} {path}: {problems}\n{response}"


def _exposition_problems(received: Received) -> list[str]:
    """A name[] filter may leave no family at all; what there is must parse."""
    if received.media_type not in ("text/plain", "application/openmetrics-text"):
        return []
    body, problem = judge.decoded_body(received)
    if problem:
        return [problem]
    text, problem = parsing.text_of(body, received.header("Content-Type"))
    if problem:
        return [problem]
    if received.media_type == "text/plain":
        error = parsing.parse_text(text).error
        return [error] if error else []
    return exposition_rules.openmetrics_problems(text, received.header("Content-Type") or "")


def check_response(response: RawResponse, target: bytes, method: str) -> None:
    """A spec success or an InfluxDB error with its status; never a 5xx."""
    assert response.status < 500, response
    assert response.header("X-Influxdb-Build") is not None, response
    if response.status >= 400:
        check_influx_error(response, head=method == "HEAD")
        return
    path = decoded_path(target)
    if path in DOCS_PAGES or path.startswith(DOCS_PATH + "/"):
        return  # the docs page, its assets and the spec documents
    check_success(response, path, method)
