"""The pieces of the text format 0.0.4, written exactly as prometheus_client's
generate_latest writes them: label values, HELP lines and numbers."""

from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client.utils import floatToGoString

# prometheus_client's own number formatting (Go's style), left unannotated upstream.
go_float: Callable[[float], str] = floatToGoString
# Below this, and above -Inf, a float's repr() is already Go's text (Go writes an
# exponent from 1e6 up where Python waits for 1e16; NaN and the infinities differ).
REPR_ABOVE, REPR_BELOW = -math.inf, 1e6


def value_text(value: float) -> str:
    """go_float(value), without its function calls for the common floats (the encoder
    formats one number per line: at 100k lines this is most of a scrape)."""
    if value.__class__ is float and REPR_ABOVE < value < REPR_BELOW:
        return repr(value)
    return go_float(value)


def escape_value(value: str) -> str:
    """A label value as generate_latest escapes it."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def help_line(name: str, documentation: str) -> str:
    escaped = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {escaped}\n"
