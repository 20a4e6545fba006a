"""`POST /api/feedback`: a thumbs up or down on one answer, with an optional comment."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from chatbot_server.bodies import documented_body, read_json
from chatbot_server.dependencies import app_state
from chatbot_server.errors import ERROR_RESPONSES
from chatbot_server.feedback import record_feedback
from chatbot_server.schemas import FeedbackRequest

router = APIRouter(prefix="/api", tags=["feedback"])


@router.post(
    "/feedback",
    status_code=204,
    summary="Rate an answer (up or down), with an optional comment",
    responses={status: ERROR_RESPONSES[status] for status in (400, 401, 413)},
    openapi_extra=documented_body(FeedbackRequest),
)
async def feedback(request: Request) -> Response:
    # As the chat routes: the key is checked before the body is read.
    state = app_state(request)
    state.api_keys.check(request.headers.get("authorization"))
    record_feedback(state, await read_json(request, FeedbackRequest))
    return Response(status_code=204)
