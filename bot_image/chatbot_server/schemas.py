"""Request and response bodies of the JSON API and the OpenAI-compatible API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# --- JSON API (/api) -------------------------------------------------------------------------------


class ApiMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    """The conversation so far, oldest first, ending with the user's new question."""

    model_config = ConfigDict(extra="forbid", strict=True)

    messages: list[ApiMessage] = Field(min_length=1)
    stream: bool = Field(False, description="Answer as NDJSON events (meta, delta..., done) as generated")


class Source(BaseModel):
    path: str = Field(description="Path of the document, relative to the corpus root")
    title: str = Field(description="Heading of the passage")
    score: float
    url: str | None = Field(
        default=None,
        description="The document at the commit the bot serves, on GitHub, GitLab, Bitbucket or Azure "
        "DevOps; null for other hosts and for corpora not fetched from git",
    )


class ChatAnswer(BaseModel):
    answer: str
    mode: Literal["faq", "corpus", "llm", "fallback"] = Field(
        description="Where the answer came from: a FAQ entry, corpus passages, the language model, or the "
        "fallback message"
    )
    sources: list[Source]
    error: str | None = Field(
        default=None, description="Why the fallback message was given instead of an answer"
    )
    model: str | None = Field(
        default=None,
        description="The model that answered (a fallback's when the primary failed); null when none did",
    )


class FeedbackRequest(BaseModel):
    """A user's rating of one answer, with what they were shown: the log line needs no server state."""

    model_config = ConfigDict(extra="forbid", strict=True)

    rating: Literal["up", "down"]
    comment: str = Field("", max_length=2000, description="Optional: what was good or wrong")
    question: str = Field(min_length=1, description="The question answered (at most max_message_chars)")
    answer: str = Field(min_length=1, description="The answer rated, as shown")
    mode: Literal["faq", "corpus", "llm", "fallback"] = Field(description="The answer's `mode`")
    sources: list[Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=list, max_length=50, description="The `path` of each of the answer's sources"
    )


class BotInfo(BaseModel):
    name: str
    greeting: str
    auth_required: bool
    max_message_chars: int


# --- OpenAI-compatible API (/v1) -------------------------------------------------------------------


class TextPart(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["text"]
    text: str


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(strict=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(strict=True)

    include_usage: bool | None = None


class ChatCompletionRequest(BaseModel):
    """An OpenAI chat completions request. The bot answers with its own model whatever `model` says."""

    # OpenAI clients send fields the bot has no use for; strict: no "0" for false, no "1" for 1.
    model_config = ConfigDict(extra="ignore", strict=True)

    model: str = Field(description="Ignored: the bot answers with the model it is configured with")
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    n: Literal[1] | None = Field(None, description="Only one choice is supported")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class CompletionChoice(BaseModel):
    index: int
    message: CompletionMessage
    finish_reason: str | None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
