"""Fuzzing the chat endpoints' bodies: whatever arrives, an answer or a clear client error, never a 5xx.

hypothesis generates bodies from plausible to hostile (wrong types, unknown roles, unpaired
surrogates, huge and deeply nested values, raw bytes) and sends each to /api/chat and
/v1/chat/completions of an offline bot and of a bot in front of the fake LLM. The limits get
their own tests, with the status and error code each one answers with.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.bot_server import BotServer
from tests.support.fake_llm import FakeLLM

from .conftest import FAQ

# Bodies per run: a few hundred requests in CI; `make bot-fuzz` sends many more.
EXAMPLES = int(os.environ.get("BOT_FUZZ_EXAMPLES", "100"))
# Small limits, so that generated bodies reach them.
LIMITS = {"max_message_chars": 300, "max_messages": 6, "max_body_bytes": 16_384}
ENDPOINTS = ("/api/chat", "/v1/chat/completions")


@pytest.fixture(scope="module")
def bots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BotServer]]:
    directory = tmp_path_factory.mktemp("fuzz-bodies")
    corpus = directory / "corpus"
    corpus.mkdir()
    (corpus / "install.md").write_text("# Installing\n\nRun `pip install example` to install the client.\n")
    (directory / "offline").mkdir()
    (directory / "llm").mkdir()
    upstream = FakeLLM(record=False)
    with (
        upstream,
        BotServer(directory / "offline", {"faq": FAQ, **LIMITS}, corpus_dir=corpus) as offline,
        BotServer(
            directory / "llm", {"faq": FAQ, **LIMITS}, corpus_dir=corpus, **upstream.bot_settings()
        ) as llm,
    ):
        yield {"offline": offline, "llm": llm}


def post(bot: BotServer, path: str, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{bot.url}{path}",
        content=content,
        headers={"Content-Type": "application/json", **headers},
        timeout=20,
    )


def assert_answer_or_client_error(response: httpx.Response) -> None:
    """A 200 with a well-formed answer, or a 4xx whose OpenAI-shaped error says what is wrong."""
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.status_code in (400, 413), response.text
        error = response.json()["error"]
        assert isinstance(error["message"], str)
        assert len(error["message"]) > 10
        assert error["type"] == "invalid_request_error"
        return
    media_type = response.headers["content-type"]
    if media_type.startswith("text/event-stream"):
        last = response.text.strip().split("\n\n")[-1]
        assert last == "data: [DONE]", last
    elif media_type.startswith("application/x-ndjson"):
        assert json.loads(response.text.splitlines()[-1])["type"] == "done"
    else:
        body = response.json()
        assert "answer" in body or body["object"] == "chat.completion"


# --- strategies -------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
# Text as clients send it, plus what JSON allows and UTF-8 does not: unpaired surrogates.
texts = st.one_of(
    st.text(max_size=80),
    st.text(st.characters(codec="utf-8"), min_size=250, max_size=400),  # around max_message_chars
    st.lists(st.text(max_size=20) | st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2)).map(
        "".join
    ),
)
roles = st.sampled_from(["user", "assistant", "system", "developer", "tool", "User", ""]) | st.text(
    max_size=8
)
contents = texts | st.lists(
    st.fixed_dictionaries({"type": st.just("text") | texts, "text": texts}), max_size=3
)
messages = st.fixed_dictionaries(
    {"role": roles, "content": contents | json_values},
    optional={"name": texts | json_values, "tool_calls": json_values},
)
chat_bodies = st.fixed_dictionaries(
    {"messages": st.lists(messages, max_size=8) | json_values},
    optional={
        "model": texts | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({}, optional={"include_usage": st.booleans() | json_values}),
        "temperature": st.floats() | json_values,
        "max_tokens": st.integers() | json_values,
        "stop": texts | st.lists(texts, max_size=5) | json_values,
        "n": st.integers(0, 3),
        "user": texts,
    },
)


def encode(body: Any) -> bytes:
    # ensure_ascii (the default) writes unpaired surrogates as \ud800 escapes, as a JS client would.
    return json.dumps(body).encode()


bodies = st.one_of(
    chat_bodies.map(encode),
    json_values.map(encode),
    st.binary(max_size=300),  # not JSON, or not UTF-8
    st.integers(1, 5000).map(lambda depth: b'{"messages": ' + b"[" * depth + b"]" * depth + b"}"),
)


@given(content=bodies, endpoint=st.sampled_from(ENDPOINTS), bot=st.sampled_from(["offline", "llm"]))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_body_gets_a_server_error(
    bots: dict[str, BotServer], content: bytes, endpoint: str, bot: str
) -> None:
    assert_answer_or_client_error(post(bots[bot], endpoint, content))


# --- limits -----------------------------------------------------------------------------------------


def chat_body(endpoint: str, messages: list[dict[str, Any]], **extra: Any) -> bytes:
    body = {"messages": messages, **extra}
    if endpoint.startswith("/v1"):
        body["model"] = "bot"
    return encode(body)


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_too_many_messages_is_a_400_naming_the_count_and_the_limit(
    bots: dict[str, BotServer], endpoint: str
) -> None:
    history = [user("hi"), {"role": "assistant", "content": "hello"}] * 3 + [user("and?")]
    response = post(bots["llm"], endpoint, chat_body(endpoint, history))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("too_many_messages", "messages")
    assert error["message"] == "Too many messages: 7, the limit is 6. Start a new conversation."


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_message_length_limit_counts_characters_not_bytes(
    bots: dict[str, BotServer], endpoint: str
) -> None:
    at_limit = post(bots["offline"], endpoint, chat_body(endpoint, [user("é" * 300)]))
    assert at_limit.status_code == 200
    over = post(
        bots["offline"],
        endpoint,
        chat_body(endpoint, [user("ok"), {"role": "assistant", "content": "é" * 301}, user("?")]),
    )
    assert over.status_code == 400
    error = over.json()["error"]
    assert (error["code"], error["param"]) == ("message_too_long", "messages.1.content")
    assert error["message"] == "Message 1 is 301 characters long; the limit is 300."


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_max_body_bytes_is_a_413_with_or_without_content_length(
    bots: dict[str, BotServer], endpoint: str, chunked: bool
) -> None:
    content = chat_body(endpoint, [user("x" * 200)] * 100)
    assert len(content) > LIMITS["max_body_bytes"]
    if chunked:
        # A generator body has no Content-Length: httpx sends it chunked, and the limit is counted.
        response = httpx.post(
            f"{bots['llm'].url}{endpoint}",
            content=iter([content[i : i + 4096] for i in range(0, len(content), 4096)]),
            headers={"Content-Type": "application/json"},
            timeout=20,
        )
    else:
        response = post(bots["llm"], endpoint, content)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "message": "The request body is larger than 16384 bytes.",
        "type": "invalid_request_error",
        "param": None,
        "code": "request_too_large",
    }


@pytest.mark.parametrize("bot", ["offline", "llm"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("stream", [False, True])
def test_an_unpaired_surrogate_is_a_400_naming_the_message(
    bots: dict[str, BotServer], bot: str, endpoint: str, stream: bool
) -> None:
    response = post(bots[bot], endpoint, chat_body(endpoint, [user("install \ud800 please")], stream=stream))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_text", "messages.0.content")
    assert "unpaired surrogate at character 8" in error["message"]


@pytest.mark.parametrize(
    ("content", "param", "words"),
    [
        (b'{"messages": [{"role": "user", "content": 5}]}', "messages.0.content", "valid string"),
        (b'{"messages": [{"role": "robot", "content": "hi"}]}', "messages.0.role", "'user'"),
        (b'{"messages": []}', "messages", "at least 1 item"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}', "stream", "valid boolean"),
        (b'{"messages": [{"role": "user", "content": "hi"}', None, "JSON decode error"),
        (b"\xff\xfe{}", None, "JSON decode error"),
    ],
    ids=["content-type", "role", "no-messages", "stream-type", "truncated-json", "not-utf8"],
)
def test_a_malformed_body_is_a_400_that_names_the_problem(
    bots: dict[str, BotServer], content: bytes, param: str | None, words: str
) -> None:
    response = post(bots["offline"], "/api/chat", content)
    assert response.status_code == 400
    error = response.json()["error"]
    assert words in error["message"]
    if param is not None:
        assert error["param"] == param


def test_deeply_nested_json_is_a_400_not_a_crash(bots: dict[str, BotServer]) -> None:
    depth = 8000  # within max_body_bytes, past Python's recursion limit
    response = post(bots["offline"], "/v1/chat/completions", b"[" * depth + b"]" * depth)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "There was an error parsing the body"
    assert httpx.get(f"{bots['offline'].url}/healthz").status_code == 200
