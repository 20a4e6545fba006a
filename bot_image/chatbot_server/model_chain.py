"""The primary model and its fallbacks (`spec.llm.fallbacks`), tried in order.

A call goes to the next model only when the one before failed with a retryable error (429, 5xx, a
timeout, a refused connection: upstream_errors.RETRYABLE_KINDS) after its own retries, and before
anything of its answer was passed on: a stream is handed to the chat API once its first read came,
and from then on it is that model's answer, whatever happens. Each model's failure is counted
against it (usage.Account.failed); the answer names the model that gave it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chatbot_server.llm import Upstream
from chatbot_server.upstream_errors import UpstreamError
from chatbot_server.usage import Account


@dataclass(frozen=True, slots=True)
class OpenStream:
    """A model's stream, started: its first read (None: the stream ended empty) and the rest."""

    model: str
    first: list[str] | None
    rest: AsyncIterator[list[str]]


class ModelChain:
    def __init__(self, upstreams: Sequence[Upstream]) -> None:
        if not upstreams:
            raise ValueError("a model chain needs at least one model")
        self.upstreams = tuple(upstreams)
        self.primary = self.upstreams[0].model

    async def complete(
        self, messages: list[dict[str, Any]], params: Mapping[str, Any], account: Account
    ) -> tuple[bytes, str]:
        """The raw body of a non-streamed completion and the model that gave it.

        Raises the last model's UpstreamError when no model answered."""
        last = len(self.upstreams) - 1
        for position, upstream in enumerate(self.upstreams):
            account.calling(upstream, params, stream=False)
            try:
                return await upstream.complete(messages, params), upstream.model
            except UpstreamError as error:
                account.failed(upstream.model, error.kind)
                if position == last or not error.retryable:
                    raise
        raise AssertionError("unreachable: the last model's error is raised")

    async def open_stream(
        self, messages: list[dict[str, Any]], params: Mapping[str, Any], account: Account
    ) -> OpenStream:
        """The stream of the first model whose first read came.

        Raises the last model's UpstreamError when no model's stream started."""
        last = len(self.upstreams) - 1
        for position, upstream in enumerate(self.upstreams):
            account.calling(upstream, params, stream=True)
            batches = aiter(upstream.stream(messages, params))
            try:
                first = await anext(batches)
            except StopAsyncIteration:
                return OpenStream(upstream.model, None, batches)
            except UpstreamError as error:
                account.failed(upstream.model, error.kind)
                if position == last or not error.retryable:
                    raise
                continue
            return OpenStream(upstream.model, first, batches)
        raise AssertionError("unreachable: the last model's error is raised")
