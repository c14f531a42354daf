"""The OpenAPI 3.1 document, generated from the declared operations and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from openmmo import __version__
from openmmo.gateway.routes import OPERATIONS, Operation
from openmmo.gateway.schemas import ErrorOut

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def openapi_document() -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorOut}
    for op in OPERATIONS:
        models.update(m for m in (op.body, op.response) if m is not None)
    _, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=str)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        path = _PARAM.sub(r"{\1}", op.path)
        paths.setdefault(path, {})[op.method.lower()] = _operation(op, path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OpenMMO gateway",
            "version": __version__,
            "description": "Accounts, tokens, characters and zone allocation. Errors are "
            "`{code, message}` with a stable `code`. Real-time play happens on "
            "the zone servers' WebSocket (see docs/reference/protocol.md).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(op: Operation, path: str) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.response is not None:
        responses[str(op.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": _ref(op.response)}},
        }
    else:
        responses[str(op.status)] = {"description": "Done"}
    errors = dict(op.errors)
    errors.setdefault(422, "invalid_request")
    if op.auth:
        errors.setdefault(401, "unauthorized or token_expired")
    errors.setdefault(413, "payload_too_large")
    errors.setdefault(503, "unavailable")
    for status, codes in sorted(errors.items()):
        responses[str(status)] = {
            "description": f"code: {codes}",
            "content": {"application/json": {"schema": _ref(ErrorOut)}},
        }
    document: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.handler.__name__,
        "tags": [op.tag],
        "responses": responses,
    }
    params = _PARAM.findall(op.path)  # (name, converter): `{id:int}` or `{id}`
    if params:
        document["parameters"] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if converter == "int" else "string"},
            }
            for name, converter in params
        ]
    if op.body is not None:
        content: dict[str, Any] = {"application/json": {"schema": _ref(op.body)}}
        if op.form_ok:
            content["application/x-www-form-urlencoded"] = {"schema": _ref(op.body)}
        document["requestBody"] = {"required": op.body is not None, "content": content}
    if op.auth:
        document["security"] = [{"bearer": []}]
    return document
