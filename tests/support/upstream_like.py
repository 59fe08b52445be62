"""Full upstream-like documents for the spec tool's tests, made from the committed extract.

The served operations keep exactly the committed structure; around them come invented
prose (to be stripped) and invented operations elsewhere (to be summarised), as in
upstream's real document.  Nothing here is upstream's text.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from openapi import spectool

Json = Any

INVENTED_PROSE = "Invented prose that the extract must not keep."


def committed_extract() -> Json:
    return yaml.safe_load(spectool.EXTRACT.read_text(encoding="utf-8"))


WIDGET_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/Widget"}}}


def _widget_operations() -> Json:
    listing = {
        "operationId": "ListWidgets",
        "summary": INVENTED_PROSE,
        "tags": ["Widgets"],
        "parameters": [
            {"$ref": "#/components/parameters/TraceSpan"},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}},
        ],
        "responses": {
            "200": {
                "description": INVENTED_PROSE,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Widget"}}
                },
            },
            "default": {"$ref": "#/components/responses/GeneralServerError"},
        },
    }
    creation = {
        "operationId": "PostWidgets",
        "tags": ["Widgets"],
        "requestBody": {
            "required": True,
            "content": WIDGET_BODY,
        },
        "responses": {"201": {"description": INVENTED_PROSE}},
    }
    return {
        "/api/v2/widgets": {"get": listing, "post": creation},
        "/api/v2/gadgets/{id}": {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "delete": {
                "operationId": "DeleteGadget",
                "responses": {"204": {"description": "gone"}},
            },
        },
    }


def full_document() -> Json:
    """An upstream-like document whose extract is the committed one."""
    doc = copy.deepcopy(committed_extract())
    doc["info"].update(
        description=INVENTED_PROSE, license={"name": "MIT", "url": "https://example.org/mit"}
    )
    doc["tags"] = [*doc["tags"], {"name": "Widgets", "description": INVENTED_PROSE}]
    for item in doc["paths"].values():
        for operation in item.values():
            operation["summary"] = INVENTED_PROSE
            operation["description"] = INVENTED_PROSE
            operation["x-codeSamples"] = [{"lang": "Shell", "source": "curl ..."}]
            for response in operation["responses"].values():
                if "$ref" not in response:
                    response["description"] = INVENTED_PROSE
    components = doc["components"]
    components["parameters"]["TraceSpan"]["example"] = {"trace_id": "1"}
    components["parameters"]["TraceSpan"]["description"] = INVENTED_PROSE
    components["schemas"]["Error"]["properties"]["code"]["description"] = INVENTED_PROSE
    components["schemas"]["Ready"]["properties"]["up"]["example"] = "1m2s"
    components["schemas"]["Widget"] = {
        "type": "object",
        "description": INVENTED_PROSE,
        "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
    }
    components["responses"]["GeneralServerError"]["description"] = INVENTED_PROSE
    components["securitySchemes"]["TokenAuthentication"]["description"] = INVENTED_PROSE
    doc["paths"].update(_widget_operations())
    return doc


def write(doc: Json, path: Path) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def use_openapi_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of openapi/ that the spec tool reads and writes instead of the real one."""
    folder = tmp_path / "openapi"
    shutil.copytree(spectool.HERE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name, relative in (
        ("SPEC", "openapi.yaml"),
        ("OVERLAY", "overlay.yaml"),
        ("EXTRACT", "upstream/served-operations.yaml"),
        ("RECORD", "upstream.json"),
    ):
        monkeypatch.setattr(spectool, name, folder / relative)
    monkeypatch.setattr(spectool, "HERE", folder)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes, to prove nothing changed."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
