"""Probes and metrics: `/healthz`, `/readyz` (ready once the corpus is indexed), `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import chatbot_contract as contract
from chatbot_server.dependencies import State

router = APIRouter(tags=["operations"])


@router.get(contract.LIVENESS_PATH, summary="Liveness: the server answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    contract.READINESS_PATH,
    summary="Readiness: the corpus is indexed and the bot answers",
    responses={503: {"description": "Still indexing, or start-up failed (see `reason`)"}},
)
async def readyz(state: State) -> JSONResponse:
    if state.bot is None:
        reason = state.failure or "indexing the corpus"
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
    # Ready with keyword search too: `search` says which mode answers and why not the configured one.
    return JSONResponse({"status": "ready", "chunks": state.bot.index.size, "search": state.search_status()})


@router.get(
    contract.METRICS_PATH,
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(state: State) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
