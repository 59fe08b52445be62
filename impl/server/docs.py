"""The browsable API docs: Swagger UI, served offline, fed the spec with its $refs intact.

Connexion 3.3 serves /openapi.json and .yaml after resolving every $ref in place; the
HealthCheck schema refers to itself (`checks`), so both fail with a 500 ("Circular
reference detected" / RecursionError; spec-first/connexion#2095). They are switched off,
and Swagger UI gets the spec with its $refs unresolved in its config document
(/ui/swagger-ui-config.json, `spec` key) and resolves them itself, lazily. The assets come
from swagger_ui_bundle and `validatorUrl` is null in Connexion's page template: nothing
is fetched from elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from functools import partial
from typing import Any

import connexion
import flask
from connexion.options import SwaggerUIOptions

DOCS_PATH = "/ui"  # Connexion's default; the page itself is /ui/
# Where Connexion would serve its (resolved, and here broken) documents.
SPEC_JSON_PATH = "/openapi.json"
SPEC_YAML_PATH = "/openapi.yaml"


def _rfc3339(value: object) -> str:
    # YAML reads an unquoted timestamp in an example as a datetime; JSON has none.
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON-serialisable in the spec: {value!r}")


def swagger_ui_options(spec: Mapping[str, Any]) -> SwaggerUIOptions:
    """Options for `add_api`: the docs page at /ui/ showing `spec` (the unresolved spec)."""
    # A JSON round trip: a deep copy Connexion cannot alter when it resolves refs, and a
    # value that is sure to serialise when the config document is served.
    document = json.loads(json.dumps(spec, default=_rfc3339))
    return SwaggerUIOptions(
        serve_spec=False,
        swagger_ui=True,
        swagger_ui_path=DOCS_PATH,
        swagger_ui_config={
            "spec": document,
            "displayOperationId": True,
            "defaultModelsExpandDepth": 1,
        },
    )


def add_spec_routes(app: connexion.FlaskApp, spec: Mapping[str, Any], text: str) -> None:
    """Serve the spec the service routes and validates with, $refs intact: as YAML the
    reviewed file as written (`text`), as JSON the same document (`spec`), rendered
    once: the spec does not change while the app runs."""
    as_json = json.dumps(spec, default=_rfc3339, indent=2).encode()
    as_yaml = text.encode()
    for path, body, kind in ((SPEC_JSON_PATH, as_json, "json"), (SPEC_YAML_PATH, as_yaml, "yaml")):
        view = partial(flask.Response, body, content_type=f"application/{kind}; charset=utf-8")
        app.add_url_rule(path, f"spec_{kind}", view, methods=["GET"])
