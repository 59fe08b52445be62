"""The spec the service routes by and the tools check against: the generated server
package's copy, package data wherever the project is installed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def generated_spec_path() -> Path:
    """The served spec (operationIds in the generator's snake_case name the controllers)."""
    return Path(str(resources.files("sysinfo_server") / "openapi" / "openapi.yaml"))
