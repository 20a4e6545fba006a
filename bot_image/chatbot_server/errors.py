"""Errors as clients see them: `{"error": {"message", "type", "param", "code"}}`, the OpenAI shape.

The OpenAI endpoints must use that shape so OpenAI clients raise their usual exceptions; the JSON
API uses it too, so there is one error format to learn. No stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class BotError(Exception):
    """An error with the HTTP status and the message the client should see."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_response(status: int, message: str, *, type: str, code: str | None = None) -> JSONResponse:
    return BotError(status, message, type=type, code=code).response()


# The documented error responses of the chat endpoints, for the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid request: a malformed body, or a limit on messages exceeded",
        401: "Missing or wrong API key",
        413: "Request body larger than max_body_bytes",
        429: "The language model is rate limiting the bot",
        502: "The language model failed",
        503: "The bot is still indexing its corpus",
        504: "The language model did not answer in time",
    }.items()
}


def _describe_validation(error: RequestValidationError) -> tuple[str, str | None]:
    problems = error.errors()
    if not problems:
        return "Invalid request body.", None
    first = problems[0]
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    message = str(first.get("msg", "invalid value"))
    where = f" at {param}" if param else ""
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"Invalid request{where}: {message}{more}.", param


def install_error_handlers(app: FastAPI) -> None:
    """Every error, expected or not, as a JSON error body."""

    async def bot_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, BotError)
        return error.response()

    async def validation_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        message, param = _describe_validation(error)
        return BotError(400, message, param=param, code="invalid_request").response()

    async def http_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        return BotError(
            error.status_code,
            str(error.detail),
            type=kind,
            headers=dict(error.headers) if error.headers else None,
        ).response()

    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(500, "The bot hit an internal error; it has been logged.", type="server_error")

    app.add_exception_handler(BotError, bot_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
