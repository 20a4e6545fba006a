"""Usage for chargeback: each chat request's model, tokens and failed model calls, by API key name.

An `Account` follows one chat request (either chat API, streamed or not) on behalf of one API key
(its name in the Secret, or `anonymous`): the chain of models reports each call it starts and each
that fails, the chat API reports the answer's model and tokens. Counted on /metrics
(chatbot_usage_*) and, when OpenTelemetry is configured, as GenAI spans and metrics
(chatbot_server.telemetry).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from chatbot_server.metrics import Metrics

if TYPE_CHECKING:
    from chatbot_server.answering import Bot
    from chatbot_server.llm import Upstream
    from chatbot_server.telemetry import ModelCall, Telemetry

# The model label of a request no model answered: an offline bot's, or the fallback message.
NO_MODEL = "none"


class Usage:
    """The usage series of one bot, each labelled series looked up once (labels() locks and checks)."""

    def __init__(self, metrics: Metrics, bot: str, telemetry: Telemetry | None = None) -> None:
        self.metrics = metrics
        self.bot = bot
        self.telemetry = telemetry
        self._series: dict[tuple[str, str, str], tuple[Counter, Counter, Counter]] = {}

    def account(self, api: str, api_key: str, headers: Mapping[str, str] | None = None) -> Account:
        """The account of one chat request; `headers` carry the caller's trace context, if any."""
        context = self.telemetry.context_of(headers) if self.telemetry and headers is not None else None
        return Account(self, api, api_key, context)

    def series(self, api: str, api_key: str, model: str) -> tuple[Counter, Counter, Counter]:
        """Requests, input tokens and output tokens of one API, key and model."""
        key = (api, api_key, model)
        found = self._series.get(key)
        if found is None:
            labels = (self.bot, api, api_key, model)
            found = self._series[key] = (
                self.metrics.usage_requests.labels(*labels),
                self.metrics.usage_tokens.labels(*labels, "input"),
                self.metrics.usage_tokens.labels(*labels, "output"),
            )
        return found


class Account:
    """What one chat request used. Cheap when telemetry is off: a few attribute reads per call."""

    __slots__ = ("_call", "_context", "_usage", "api", "api_key")

    def __init__(self, usage: Usage, api: str, api_key: str, context: Any = None) -> None:
        self._usage = usage
        self._context = context
        self._call: ModelCall | None = None
        self.api = api
        self.api_key = api_key

    def calling(self, upstream: Upstream, params: Mapping[str, Any], stream: bool) -> None:
        """A call to this model starts (a span and a duration, when telemetry is on)."""
        telemetry = self._usage.telemetry
        if telemetry is not None:
            self._call = telemetry.start_call(upstream, params, stream, self, self._context)

    def failed(self, model: str, error_type: str) -> None:
        """The call to this model failed (before or during its answer)."""
        self._usage.metrics.usage_errors.labels(
            self._usage.bot, self.api, self.api_key, model, error_type
        ).inc()
        if self._call is not None:
            self._call.end(error_type=error_type)
            self._call = None

    def answered(
        self, model: str, input_tokens: int = 0, output_tokens: int = 0, error_type: str | None = None
    ) -> None:
        """The request is answered, by this model (NO_MODEL: by none), with these tokens; an
        `error_type` when the model failed mid-answer (what it sent was passed on)."""
        requests, inputs, outputs = self._usage.series(self.api, self.api_key, model)
        requests.inc()
        if input_tokens:
            inputs.inc(input_tokens)
        if output_tokens:
            outputs.inc(output_tokens)
        if error_type is not None:
            self._usage.metrics.usage_errors.labels(
                self._usage.bot, self.api, self.api_key, model, error_type
            ).inc()
        if self._call is not None:
            self._call.end(input_tokens=input_tokens, output_tokens=output_tokens, error_type=error_type)
            self._call = None


def answer_tokens(bot: Bot, messages: Sequence[dict[str, Any]], text: str, usage: object) -> tuple[int, int]:
    """An answer's input and output tokens, as the model reported them (`usage`), else as the bot
    counts them; added to chatbot_tokens_total too."""
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        tokens = usage["prompt_tokens"], int(usage.get("completion_tokens") or 0)
    else:
        tokens = bot.count_prompt_tokens(messages), bot.counter.count_text(text)
    bot.metrics.tokens_in.inc(tokens[0])
    bot.metrics.tokens_out.inc(tokens[1])
    return tokens
