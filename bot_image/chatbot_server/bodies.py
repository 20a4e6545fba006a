"""JSON request bodies read by the chat routes themselves, and their place in the OpenAPI document.

The chat routes are the bot's hot path. FastAPI's body handling and dependency solving cost about a
fifth of the bot's CPU on a proxied request (docs/benchmarks.md), so these routes read their bodies
here instead, in the same steps and with the same errors as FastAPI: `json.loads`, then the model
(strict). The API key is checked before the body is read, so a caller without a key learns nothing
about what a valid body looks like.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException

Model = TypeVar("Model", bound=BaseModel)

_SCHEMAS = "#/components/schemas/"


async def read_json(request: Request, model: type[Model]) -> Model:
    """The request's body as `model`; a body that is not JSON or not valid is a 400 naming why."""
    raw = await request.body()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": error.msg},
                }
            ]
        ) from None
    except (ValueError, RecursionError):  # undecodable bytes; nesting deeper than Python recurses
        raise HTTPException(400, "There was an error parsing the body") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = error.errors(include_url=False)
        raise RequestValidationError([{**p, "loc": ("body", *p["loc"])} for p in problems]) from None


def documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """A route's `openapi_extra`: its JSON body is `model`, as FastAPI documents a body parameter."""
    schema = {"$ref": f"{_SCHEMAS}{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def document_models(app: FastAPI, models: Iterable[type[BaseModel]]) -> None:
    """Add the schemas of these request models (and the models they use) to the app's document."""
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=_SCHEMAS + "{model}"
    )
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # FastAPI builds the document once and keeps it
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(definitions.get("$defs", {}))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
