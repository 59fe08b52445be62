"""The contract the service, its clients and the spec tools share: the reviewed spec
(`openapi.yaml`, derived by `make spec`), how to follow its `$ref`s (`refs`), and the
rule of its `name[]` parameter that the spec's words cannot carry (`names`)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

# Every method an OpenAPI path item may declare, in the order OpenAPI lists them.
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SPEC_FILE = "openapi.yaml"


def spec_text() -> str:
    """The reviewed spec as written, comments included."""
    return (resources.files(__name__) / SPEC_FILE).read_text(encoding="utf-8")


@cache
def _spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(spec_text())
    return document


def spec() -> dict[str, Any]:
    """The reviewed spec, parsed once; callers must not change it (copy it first)."""
    return _spec()


__all__ = ["HTTP_METHODS", "SPEC_FILE", "spec", "spec_text"]
