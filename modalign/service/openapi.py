"""The OpenAPI document: FastAPI's, plus the schemas of bodies the search routes parse themselves
(they accept JSON *or* multipart, which FastAPI cannot declare on its own)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"


def install_openapi(app: FastAPI, extra_models: list[type[BaseModel]]) -> None:
    """Make ``app.openapi()`` include ``extra_models`` under components/schemas (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes, tags=app.openapi_tags,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            _, defs = models_json_schema(
                [(model, "validation") for model in extra_models], ref_template=REF_TEMPLATE
            )
            for name, definition in defs.get("$defs", {}).items():
                components.setdefault(name, definition)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
