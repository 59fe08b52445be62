"""Where code gets the spec the service routes by and serves: the reviewed spec
(openapi/openapi.yaml), carried by the influxdb-sysinfo-contract distribution."""

from __future__ import annotations

import copy
from typing import Any

from sysinfo_contract import spec, spec_text


def served_spec() -> dict[str, Any]:
    """The reviewed spec, parsed once; a copy, so the caller may change it."""
    return copy.deepcopy(spec())


def served_spec_text() -> str:
    """The reviewed spec exactly as written in openapi/openapi.yaml."""
    return spec_text()
