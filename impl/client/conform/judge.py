"""Is one response what the spec declares? Each function returns problems as sentences.

The fuzz tests' judge (tests/support/conformance.py) uses these too: one reading of the
spec, not two.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from impl.client.conform import influxd
from impl.client.conform.contract import ERROR_SCHEMA_POINTER, Operation, Spec
from impl.client.conform.model import Received
from impl.client.conform.parsing import decoded, json_object, json_value, quote, text_of

JSON_MEDIA_TYPE = "application/json"


def decoded_body(response: Received) -> tuple[bytes, str | None]:
    """The body with its Content-Encoding undone, or a problem saying why it cannot be."""
    return decoded(response.body, response.header("Content-Encoding"))


def status_problems(operation: Operation, status: int) -> list[str]:
    if operation.declared(status) is not None:
        return []
    declared = ", ".join(d.key for d in operation.responses())
    if operation.covering(status) is not None:
        return [f"{status} is covered only by `default` (unexpected errors); declared: {declared}"]
    return [f"{status} is not declared; declared: {declared}"]


def _header_instance(value: str, schema: dict[str, Any]) -> object:
    """Header values are text; a schema may declare a number or a boolean."""
    kind = schema.get("type", "")
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    numbers: dict[str, Callable[[str], object]] = {"integer": int, "number": float}
    try:
        return numbers.get(kind, str)(value)
    except ValueError:
        return value  # the schema then reports the mismatch


def header_problems(spec: Spec, operation: Operation, response: Received) -> list[str]:
    """Required declared headers are present; present ones match their schema."""
    declared = operation.covering(response.status)
    if declared is None:
        return []
    problems = []
    for name, header, where in declared.headers():
        value = response.header(name)
        if value is None:
            if header.get("required"):
                problems.append(f"required header {name} is missing")
            continue
        if "schema" not in header:
            continue
        schema = spec.resolve(header["schema"])
        for error in spec.schema_errors(_header_instance(value, schema), where + "/schema"):
            problems.append(f"header {name}: {quote(value)} {error.message}")
    return problems


def media_type_problems(operation: Operation, response: Received) -> list[str]:
    declared = operation.declared(response.status)
    if declared is None or not declared.content:
        return []
    content_type = response.header("Content-Type")
    listed = ", ".join(declared.content)
    if not content_type:
        return [f"no Content-Type; declared: {listed}"]
    media_type = response.media_type
    accepted = {media_type, media_type.split("/")[0] + "/*", "*/*"}
    if not accepted & {key.lower() for key in declared.content}:
        return [f"Content-Type {content_type} is not declared; declared: {listed}"]
    return []


def _schema_problems(
    spec: Spec, instance: object, schema_pointer: str | None, but_code_enum: bool = False
) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or 'body'}: {error.message}"
        for error in (spec.schema_errors(instance, schema_pointer) if schema_pointer else [])
        if not (
            but_code_enum and list(error.absolute_path) == ["code"] and error.validator == "enum"
        )
    ]


def body_problems(spec: Spec, operation: Operation, response: Received) -> list[str]:
    """The body of a declared response (not for HEAD answers): empty when no content
    is declared, else valid in its media type and against its schema, formats included."""
    declared = operation.declared(response.status)
    if declared is None:
        return []
    if not declared.content:
        extra = len(response.body) + len(response.trailing)
        return [f"{response.status} declares no content but {extra} bytes came"] if extra else []
    body, problem = decoded_body(response)
    if problem:
        return [problem]
    instance: object
    if response.media_type == JSON_MEDIA_TYPE or response.media_type.endswith("+json"):
        instance, problem = json_value(body)
    else:
        instance, problem = text_of(body, response.header("Content-Type"))
    if problem:
        return [problem]
    return _schema_problems(spec, instance, declared.schema_pointer(response.media_type))


def error_document(response: Received) -> dict[str, Any] | None:
    """The body as a JSON object, when it is one."""
    body, problem = decoded_body(response)
    return None if problem else json_object(body)


def error_code(response: Received) -> str | None:
    document = error_document(response)
    code = document.get("code") if document is not None else None
    return code if isinstance(code, str) else None


def error_body_problems(spec: Spec, operation: Operation | None, response: Received) -> list[str]:
    """An error body must be the Error JSON the spec declares; a code outside the enum
    is left to `code_enum_problems`, so one defect is reported once."""
    declared = operation.covering(response.status) if operation is not None else None
    content = declared.content if declared is not None else {}
    media_types = [media.lower() for media in content] or [JSON_MEDIA_TYPE]
    if response.media_type not in media_types:
        shown = response.header("Content-Type") or "none"
        return [f"Content-Type {shown}, not {' or '.join(media_types)}: {quote(response.body)}"]
    document = error_document(response)
    if document is None:
        return [f"the body is not a JSON object: {quote(response.body)}"]
    schema_pointer = (
        declared.schema_pointer(response.media_type) if declared is not None else None
    ) or ERROR_SCHEMA_POINTER
    return _schema_problems(spec, document, schema_pointer, but_code_enum=True)


def code_enum_problems(spec: Spec, code: str) -> list[str]:
    codes, _ = spec.error_codes()
    return [] if code in codes else [f"code {quote(code)} is not in the Error code enum"]


def code_status_problems(
    code: str, status: int, also: Mapping[str, Collection[int]] | None = None
) -> list[str]:
    """influxd's status for the code; `also` admits further statuses per code."""
    expected = influxd.STATUS_OF_CODE.get(code)
    if expected is None or status == expected or status in (also or {}).get(code, ()):
        return []
    return [f"code {quote(code)} came with {status}; influxd gives it {expected}"]
