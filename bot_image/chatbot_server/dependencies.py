"""What routes need from the app: its state as a FastAPI dependency (`State`), and for the chat
routes, which skip FastAPI's dependency solving on the hot path (chatbot_server.bodies), one plain
call that does what their dependencies did (`start_chat`).

The dependencies are `async def` although none of them awaits: FastAPI runs a plain `def`
dependency in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from chatbot_server.answering import Bot
from chatbot_server.bodies import read_json
from chatbot_server.model_chain import ModelChain
from chatbot_server.state import BotState
from chatbot_server.usage import Account

Body = TypeVar("Body", bound=BaseModel)


def app_state(request: Request) -> BotState:
    state: BotState = request.app.state.bot
    return state


async def get_state(request: Request) -> BotState:
    return app_state(request)


State = Annotated[BotState, Depends(get_state)]


async def require_api_key(request: Request, state: State) -> None:
    state.api_keys.check(request.headers.get("authorization"))


@dataclass(frozen=True, slots=True)
class ChatCall(Generic[Body]):
    bot: Bot
    models: ModelChain | None  # None: offline
    body: Body
    account: Account  # the request's usage, charged to its API key's name


async def start_chat(request: Request, model: type[Body], api: str) -> ChatCall[Body]:
    """The API key checked (first), the body read as `model`, and the bot, if it is ready."""
    state = app_state(request)
    headers = request.headers
    key_name = state.api_keys.check(headers.get("authorization"))
    body = await read_json(request, model)
    bot = state.ready_bot()
    return ChatCall(bot, state.models, body, state.usage.account(api, key_name, headers))
