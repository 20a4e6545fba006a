"""Fitting a conversation into the model's context budget.

The prompt is the system message first, then as much recent history as fits `max_context_tokens`;
the oldest turns go first, and the system message and the latest user message are never dropped
(even when they alone exceed the budget: the upstream then says so, which is clearer than a silently
truncated question).

Counting every message with tiktoken on every request would dominate the bot's own latency, so the
exact count is skipped when an upper bound already fits: a token is at least one byte, so a text has
at most as many tokens as UTF-8 bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatbot_server.tokens import TOKENS_PER_MESSAGE, TOKENS_PER_REPLY, TokenCounter

Turn = tuple[str, str]  # (role, content)


@dataclass(frozen=True, slots=True)
class Trimmed:
    turns: list[Turn]  # the system message first, then the kept history, the latest user message last
    dropped: int  # how many history turns did not fit


def byte_bound(text: str) -> int:
    """An upper bound of a text's token count: its UTF-8 length."""
    return len(text) if text.isascii() else len(text.encode())


def fits_without_counting(texts: Sequence[str], budget: int) -> bool:
    """True when the texts surely fit the budget, as chat messages, without tokenizing them."""
    bound = TOKENS_PER_REPLY + sum(TOKENS_PER_MESSAGE + byte_bound(text) for text in texts)
    return bound <= budget


def trim_history(system: str, history: Sequence[Turn], counter: TokenCounter, budget: int) -> Trimmed:
    """The system message and the most recent turns of history that fit the budget.

    `history` ends with the latest user message, which is always kept.
    """
    if not history:
        return Trimmed([("system", system)], 0)
    if fits_without_counting([system, *(content for _, content in history)], budget):
        return Trimmed([("system", system), *history], 0)
    latest = history[-1]
    used = TOKENS_PER_REPLY + counter.count_message(system) + counter.count_message(latest[1])
    kept: list[Turn] = []
    for turn in reversed(history[:-1]):
        cost = counter.count_message(turn[1])
        if used + cost > budget:
            break
        used += cost
        kept.append(turn)
    kept.reverse()
    return Trimmed([("system", system), *kept, latest], len(history) - 1 - len(kept))


def select_within_budget(
    base: str, extras: Sequence[str], reserved: int, counter: TokenCounter, budget: int
) -> int:
    """How many of `extras` (in order) can be appended to `base` with `reserved` tokens left for the rest."""
    if fits_without_counting([base, *extras], budget - reserved):
        return len(extras)
    used = counter.count_message(base) + reserved + TOKENS_PER_REPLY
    for taken, extra in enumerate(extras):
        used += counter.count_text(extra) + 2  # the blank line that joins it
        if used > budget:
            return taken
    return len(extras)
