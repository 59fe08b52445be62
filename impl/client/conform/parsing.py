"""Reading what came back: a body with its Content-Encoding undone, as text in its
charset, as a JSON object, or as metric families (prometheus_client's own parsers).

Every check module reads bodies through here, so a body means the same to all of them.
Each function returns what it read, or a problem saying why it could not.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

MAX_QUOTED = 80
CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.IGNORECASE)
METADATA = re.compile(r'^#\s+(HELP|TYPE)\s+("[^"]*"|\S+)(?:\s+(\S+))?')
# prometheus_client reports malformed input with any of these.
PARSE_ERRORS = (ValueError, KeyError, IndexError, TypeError)
MAX_PARSE_ERROR = 300


def quote(data: bytes | str) -> str:
    """A body or value for a message: JSON-quoted, its start only."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    shown = text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "…"
    return json.dumps(shown, ensure_ascii=False)


def media_type(content_type: str | None) -> str:
    """`text/plain; version=0.0.4` -> `text/plain`."""
    return (content_type or "").split(";")[0].strip().lower()


def media_type_parameters(content_type: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in content_type.split(";")[1:] if "=" in part)
    return {key.strip().lower(): value.strip().strip('"') for key, value in pairs}


def decoded(body: bytes, content_encoding: str | None) -> tuple[bytes, str | None]:
    """The body with its Content-Encoding undone."""
    encoding = (content_encoding or "identity").strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body), None
        if encoding == "deflate":
            return zlib.decompress(body), None
    except (OSError, EOFError, zlib.error) as err:
        return b"", f"the body is not valid {encoding}: {err}"
    if encoding != "identity":
        return b"", f"Content-Encoding {encoding} cannot be decoded here"
    return body, None


def text_of(body: bytes, content_type: str | None) -> tuple[str, str | None]:
    """The body as text in the charset it declares (UTF-8 when it declares none)."""
    found = CHARSET.search(content_type or "")
    charset = found.group(1) if found else "utf-8"
    try:
        return body.decode(charset), None
    except LookupError:
        return "", f"unknown charset {charset!r}"
    except UnicodeDecodeError as err:
        return "", f"the body is not valid {charset}: {err.reason} at byte {err.start}"


def json_value(body: bytes) -> tuple[Any, str | None]:
    try:
        return json.loads(body), None
    except ValueError as err:
        return None, f"the body is not JSON ({err}): {quote(body)}"


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, when it is one."""
    value, problem = json_value(body)
    return value if problem is None and isinstance(value, dict) else None


@dataclass(frozen=True)
class Parsed:
    """A metrics body as families, or the parser's error."""

    families: list[Metric]
    error: str | None
    # From the raw lines: the parser fills in what is missing (a counter's `_total`).
    help_names: frozenset[str] = frozenset()
    types: dict[str, str] = field(default_factory=dict)  # TYPE line name -> type
    openmetrics: bool = False


def _parse(text: str, parser: Callable[[str], Iterable[Metric]], openmetrics: bool) -> Parsed:
    found = [match for match in map(METADATA.match, text.splitlines()) if match]
    helps = frozenset(match.group(2).strip('"') for match in found if match.group(1) == "HELP")
    types = {m.group(2).strip('"'): m.group(3) or "" for m in found if m.group(1) == "TYPE"}
    try:
        return Parsed(list(parser(text)), None, helps, types, openmetrics)
    except PARSE_ERRORS as err:
        error = f"{type(err).__name__}: {err}"[:MAX_PARSE_ERROR]
        return Parsed([], error, helps, types, openmetrics)


def parse_text(text: str) -> Parsed:
    """The Prometheus text format 0.0.4."""
    return _parse(text, text_parse, False)


def parse_openmetrics(text: str) -> Parsed:
    return _parse(text, om_parse, True)


def exposed_name(family: Metric) -> str:
    """The name a family has on its TYPE line: the parser drops a counter's `_total`."""
    if family.type == "counter" and any(s.name == family.name + "_total" for s in family.samples):
        return family.name + "_total"
    return family.name
