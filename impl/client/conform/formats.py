"""The `format`s of OpenAPI 3.0 schemas, checked as their RFCs define them.

Written here rather than taken from jsonschema, whose date-time check silently does
nothing unless an optional package is installed: a judge must not pass a value for
want of a library. A format this module does not know is not checked, as JSON Schema
prescribes for unknown formats.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import ipaddress
import re
import uuid
from collections.abc import Callable

from jsonschema import FormatChecker

# RFC 3339 §5.6. "T" and "Z" may be lower case (§5.6, note); the fraction has any
# number of digits; the offset is Z or ±hh:mm.
FULL_DATE = r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
FULL_TIME = (
    r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(?:\.\d+)?"
    r"(?:[Zz]|(?P<sign>[+-])(?P<offset_hour>\d{2}):(?P<offset_minute>\d{2}))"
)
DATE_TIME = re.compile(rf"{FULL_DATE}[Tt]{FULL_TIME}", re.ASCII)
DATE = re.compile(FULL_DATE, re.ASCII)
TIME = re.compile(FULL_TIME, re.ASCII)
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def _valid_date(found: re.Match[str]) -> bool:
    year, month, day = int(found["year"]), int(found["month"]), int(found["day"])
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def _valid_time(found: re.Match[str]) -> bool:
    hour, minute, second = int(found["hour"]), int(found["minute"]), int(found["second"])
    if found["sign"] and (int(found["offset_hour"]) > 23 or int(found["offset_minute"]) > 59):
        return False
    if hour > 23 or minute > 59 or second > 60:
        return False
    if second < 60:
        return True
    # A leap second is inserted at 23:59:60 UTC (RFC 3339 §5.7): in UTC, whatever offset.
    offset = 0
    if found["sign"]:
        offset = int(found["offset_hour"]) * 60 + int(found["offset_minute"])
        offset = -offset if found["sign"] == "+" else offset
    return (hour * 60 + minute + offset) % (24 * 60) == 23 * 60 + 59


def is_date_time(value: str) -> bool:
    """RFC 3339 `date-time`: `2026-05-26T15:42:30Z`, `...30.367340Z`, `...30+02:00`."""
    found = DATE_TIME.fullmatch(value)
    return found is not None and _valid_date(found) and _valid_time(found)


def is_date(value: str) -> bool:
    found = DATE.fullmatch(value)
    return found is not None and _valid_date(found)


def is_time(value: str) -> bool:
    found = TIME.fullmatch(value)
    return found is not None and _valid_time(found)


def _in(bounds: tuple[int, int]) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True  # the format applies to numbers; `type` judges the rest
        return float(value).is_integer() and bounds[0] <= value <= bounds[1]

    return check


def is_byte(value: str) -> bool:
    """base64 (RFC 4648 §4), as OpenAPI 3.0 defines `byte`."""
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


STRING_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": is_date_time,
    "date": is_date,
    "time": is_time,
    "byte": is_byte,
    "uuid": is_uuid,
    "ipv4": is_ipv4,
    "ipv6": is_ipv6,
}
NUMBER_FORMATS = {"int32": _in(INT32), "int64": _in(INT64)}


def _for_strings(check: Callable[[str], bool]) -> Callable[[object], bool]:
    def checker(value: object) -> bool:
        return not isinstance(value, str) or check(value)

    return checker


def format_checker() -> FormatChecker:
    """A jsonschema FormatChecker with the formats above and no other."""
    checker = FormatChecker(formats=())
    for name, check in STRING_FORMATS.items():
        checker.checks(name)(_for_strings(check))
    for name, number_check in NUMBER_FORMATS.items():
        checker.checks(name)(number_check)
    return checker
