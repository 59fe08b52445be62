"""A strict line protocol reader with influxd 2.x's rules, to check what impl writes.

influxd's scanner treats a backslash and the character after it as one pair wherever
they are; it then unescapes `\\,` `\\ ` (and `\\=` in tags and field keys) and leaves
every other backslash as it is. In a string field `\\"` and `\\\\` are unescaped. This
reader rejects what influxd would reject or misread: an unescaped separator, an empty
tag value, a missing field, a float it cannot store (NaN, inf), a bad timestamp.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+i")
TIMESTAMP = re.compile(r"-?\d+")


class LineProtocolError(ValueError):
    pass


class ParsedLine(NamedTuple):
    measurement: str
    tags: dict[str, str]
    fields: dict[str, float | int | bool | str]
    timestamp_ns: int


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` where it is not escaped (series key and tag parts)."""
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        if text[index] == "\\":
            if index + 1 == len(text):
                raise LineProtocolError(f"a backslash ends {text!r}")
            current.append(text[index : index + 2])
            index += 2
        elif text[index] == separator:
            parts.append("".join(current))
            current = []
            index += 1
        else:
            current.append(text[index])
            index += 1
    parts.append("".join(current))
    return parts


def _scan_fields(text: str) -> tuple[list[str], int]:
    """The fields of a field set starting at text[0], and where the set ends. As in
    influxd, quotes matter only inside a field value (after the key's `=`)."""
    parts: list[str] = []
    current: list[str] = []
    index, in_value, quoted = 0, False, False
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == '"' and in_value:
            quoted = not quoted
        elif char == "=" and not quoted and not in_value:
            in_value = True
        elif char in ", " and not quoted:
            parts.append("".join(current))
            current, in_value = [], False
            if char == " ":
                return parts, index
            index += 1
            continue
        current.append(char)
        index += 1
    if quoted:
        raise LineProtocolError(f"unterminated string in {text!r}")
    parts.append("".join(current))
    return parts, index


def _key_and_value(part: str) -> tuple[str, str]:
    """Split a field at its first unescaped `=`."""
    index = 0
    while index < len(part):
        if part[index] == "\\":
            index += 2
        elif part[index] == "=":
            return part[:index], part[index + 1 :]
        else:
            index += 1
    raise LineProtocolError(f"no '=' in field {part!r}")


def _unescape(text: str, specials: str) -> str:
    for char in specials:
        text = text.replace("\\" + char, char)
    return text


def _field_value(text: str) -> float | int | bool | str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        body = text[1:-1]
        if re.search(r'(?<!\\)(?:\\\\)*"', body):
            raise LineProtocolError(f"unescaped quote in {text!r}")
        return re.sub(r"\\([\\\"])", r"\1", body)
    if text in ("t", "T", "true", "True", "TRUE"):
        return True
    if text in ("f", "F", "false", "False", "FALSE"):
        return False
    if INTEGER.fullmatch(text):
        return int(text[:-1])
    if FLOAT.fullmatch(text):
        value = float(text)
        if not math.isfinite(value):
            raise LineProtocolError(f"float out of range: {text!r}")
        return value
    raise LineProtocolError(f"not a field value: {text!r}")


def parse_line(line: str) -> ParsedLine:
    if "\n" in line or not line:
        raise LineProtocolError(f"not one line: {line!r}")
    if line.startswith("#"):
        raise LineProtocolError(f"influxd reads this line as a comment: {line!r}")
    series_parts = _split(line, " ")
    series = series_parts[0]
    rest = line[len(series) + 1 :]
    field_parts, end = _scan_fields(rest)
    stamp = rest[end + 1 :]
    if len(series_parts) < 2 or end >= len(rest) or not stamp:
        raise LineProtocolError(f"want 'series fields timestamp', got {line!r}")
    measurement_raw, *tag_parts = _split(series, ",")
    if not measurement_raw:
        raise LineProtocolError(f"no measurement in {line!r}")
    tags: dict[str, str] = {}
    for part in tag_parts:
        pieces = _split(part, "=")
        if len(pieces) != 2 or not pieces[0] or not pieces[1]:
            raise LineProtocolError(f"bad tag {part!r} in {line!r}")
        tags[_unescape(pieces[0], ",= ")] = _unescape(pieces[1], ",= ")
    if list(tags) != sorted(tags):
        raise LineProtocolError(f"tags not sorted in {line!r}")
    fields: dict[str, float | int | bool | str] = {}
    for part in field_parts:
        key, value = _key_and_value(part)
        if not key or not value:
            raise LineProtocolError(f"bad field {part!r} in {line!r}")
        fields[_unescape(key, ",= ")] = _field_value(value)
    if not fields:
        raise LineProtocolError(f"no field in {line!r}")
    if not TIMESTAMP.fullmatch(stamp):
        raise LineProtocolError(f"bad timestamp {stamp!r}")
    return ParsedLine(_unescape(measurement_raw, ", "), tags, fields, int(stamp))


def parse_lines(text: str) -> list[ParsedLine]:
    """Every line of `text`, which must end with a newline when it is not empty."""
    if text and not text.endswith("\n"):
        raise LineProtocolError("the last line has no newline")
    return [parse_line(line) for line in text.splitlines()]
