"""FastAPI dependencies: the bot, its LLM upstream and the API key check (tests override them).

They are `async def` although none of them awaits: FastAPI runs a plain `def` dependency in a worker
thread, and four thread hand-offs per request cost more than the rest of the bot's own work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chatbot_server.answering import Bot
from chatbot_server.errors import BotError
from chatbot_server.llm import Upstream
from chatbot_server.state import BotState


async def get_state(request: Request) -> BotState:
    state: BotState = request.app.state.bot
    return state


State = Annotated[BotState, Depends(get_state)]


async def get_bot(state: State) -> Bot:
    if state.bot is None:
        raise BotError(
            503,
            state.failure or "The bot is still indexing its documents; try again in a moment.",
            type="service_unavailable",
            code="not_ready",
            headers={"Retry-After": "2"},
        )
    return state.bot


async def get_upstream(state: State) -> Upstream | None:
    return state.upstream


async def require_api_key(request: Request, state: State) -> None:
    state.api_keys.check(request.headers.get("authorization"))


BotDep = Annotated[Bot, Depends(get_bot)]
UpstreamDep = Annotated[Upstream | None, Depends(get_upstream)]
