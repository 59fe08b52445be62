"""Which generated controller function serves each operation of the reviewed spec.

The service routes with the reviewed spec (openapi/openapi.yaml, upstream's operationIds)
and serves it as it is. The generator writes its own copy of the spec into the server
package, where each operation names its controller (`x-openapi-router-controller`) and,
in snake_case, the function in it (`operationId`). The resolver reads the generator's
copy for the function serving each method and path, so no naming rule is restated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml
from connexion.resolver import Resolver

from sysinfo_contract import HTTP_METHODS

GENERATED_PACKAGE = "sysinfo_server"


def generated_spec() -> dict[str, Any]:
    """The generator's copy of the spec, package data of the generated server package."""
    text = (resources.files(GENERATED_PACKAGE) / "openapi" / "openapi.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def controller_functions(generated: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(path, method) -> the dotted name of the controller function the generator wrote."""
    functions = {}
    for path, item in generated["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                operation = item[method]
                module = operation["x-openapi-router-controller"]
                functions[(path, method)] = f"{module}.{operation['operationId']}"
    return functions


class GeneratedControllers(Resolver):  # type: ignore[misc]  # connexion is untyped here
    """Resolves an operation by its method and path to the generated controller function;
    the resolved name is what Connexion's routing puts in the request scope."""

    def __init__(self, functions: Mapping[tuple[str, str], str]) -> None:
        super().__init__()
        self._functions = dict(functions)

    def resolve_operation_id(self, operation: Any) -> str:
        key = (operation.path, operation.method.lower())
        if key not in self._functions:
            # A spec operation without generated code: `make generate` was not run.
            raise LookupError(f"no generated controller for {key[1].upper()} {key[0]}")
        return self._functions[key]
