"""The app's state for routes, as a FastAPI dependency (`State`) and as a plain call (`app_state`).

The dependencies are `async def` although none of them awaits: FastAPI runs a plain `def`
dependency in a worker thread. The chat routes call `app_state` directly instead: they are the hot
path, and dependency solving costs (see chatbot_server.bodies).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chatbot_server.state import BotState


def app_state(request: Request) -> BotState:
    state: BotState = request.app.state.bot
    return state


async def get_state(request: Request) -> BotState:
    return app_state(request)


State = Annotated[BotState, Depends(get_state)]


async def require_api_key(request: Request, state: State) -> None:
    state.api_keys.check(request.headers.get("authorization"))
