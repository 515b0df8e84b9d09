"""The OpenAPI document as the API behaves.

FastAPI documents a 422 with its own ``HTTPValidationError`` body on every route that
takes a parameter or a body, but scalehook never sends that shape: every error is an
``ErrorOut`` (``api/errors.py``), and each route declares the statuses it can answer
(``schemas.errors``). So FastAPI's default is taken out where a route declared no 422 of
its own (it cannot fail validation: a path parameter that is any text).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

_FASTAPI_SHAPES = ("HTTPValidationError", "ValidationError")


def _is_fastapi_422(answer: Any) -> bool:
    schema = (((answer or {}).get("content") or {}).get("application/json") or {}).get("schema")
    return isinstance(schema, dict) and str(schema.get("$ref", "")).endswith("/HTTPValidationError")


def install(app: FastAPI) -> None:
    """Serve the document without FastAPI's default 422 answers and their schemas."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    answers = operation.get("responses", {})
                    if _is_fastapi_422(answers.get("422")):
                        del answers["422"]
            schemas = document.get("components", {}).get("schemas", {})
            for name in _FASTAPI_SHAPES:
                schemas.pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
