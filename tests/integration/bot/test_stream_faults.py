"""Streams under faults: clients that leave or stop reading, and upstream storms of failures.

Complements test_bot_llm.py (one failure at a time) with many at once, as a busy bot sees them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.support.bot_server import BotServer
from tests.support.fake_llm import FakeLLM

StartBot = Callable[..., BotServer]
QUESTION = [{"role": "user", "content": "hello?"}]


def metric(bot: BotServer, name: str) -> float:
    for line in httpx.get(f"{bot.url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in the bot's metrics")


async def eventually(condition: Callable[[], bool], within: float) -> float:
    """Seconds until the condition held; fails the test after `within` seconds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"not true after {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def slow_upstream() -> Iterator[FakeLLM]:
    """An upstream answering 100 words, 0.1 s apart: a 10 s stream."""
    answer = " ".join(f"word{position}" for position in range(100))
    with FakeLLM(answer=answer, chunk_delay=0.1) as fake:
        yield fake


async def test_a_client_that_disconnects_mid_stream_frees_its_upstream_request(
    start_bot: StartBot, slow_upstream: FakeLLM
) -> None:
    bot = start_bot(**slow_upstream.bot_settings())
    requests = [
        ("/v1/chat/completions", {"model": "bot", "stream": True, "messages": QUESTION}),
        ("/api/chat", {"stream": True, "messages": QUESTION}),
    ] * 5
    async with httpx.AsyncClient(base_url=bot.url, timeout=10) as client:

        async def read_a_little_then_leave(path: str, body: dict[str, Any]) -> None:
            async with client.stream("POST", path, json=body) as response:
                assert response.status_code == 200
                lines = aiter(response.aiter_lines())
                for _ in range(3):
                    await anext(lines)

        await asyncio.gather(*(read_a_little_then_leave(path, body) for path, body in requests))
        left = time.monotonic()
        # The upstream sees each of its requests closed before the answer's end: the bot does not
        # keep reading (and paying for) answers nobody waits for.
        await eventually(lambda: slow_upstream.streams_cut == len(requests), within=3)
        freed_after = time.monotonic() - left
    assert slow_upstream.streams_open == 0
    assert metric(bot, "chatbot_upstream_open_requests") == 0
    assert freed_after < 1.0  # the fake writes a chunk every 0.1 s; the close shows on the next one


async def test_a_client_that_leaves_before_the_first_byte_frees_its_upstream_request(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(**fake_llm.bot_settings(llm_timeout_seconds=60))
    requests = [
        ("/v1/chat/completions", {"model": "bot", "stream": True, "messages": QUESTION}),
        ("/v1/chat/completions", {"model": "bot", "messages": QUESTION}),
        ("/api/chat", {"stream": True, "messages": QUESTION}),
        ("/api/chat", {"messages": QUESTION}),
    ]
    fake_llm.play(*["stall"] * len(requests))  # the language model thinks for 30 s before a byte
    async with httpx.AsyncClient(base_url=bot.url, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):  # each client gives up after 0.5 s and closes
            await asyncio.gather(*(client.post(path, json=body) for path, body in requests))
        left = time.monotonic()
    # The bot closes each upstream call then, instead of waiting 30 s (and paying) for answers
    # nobody will read.
    await eventually(lambda: fake_llm.stalls_abandoned == len(requests), within=3)
    assert time.monotonic() - left < 1.0
    assert metric(bot, "chatbot_upstream_open_requests") == 0
    # Counted as nginx counts such requests: 499, the client closed the request before an answer.
    # (The JSON API's stream had already answered 200: it starts at once, sources first.)
    assert requests_with_status(bot, "/v1/chat/completions", 499) == 2
    assert requests_with_status(bot, "/api/chat", 499) == 1
    assert requests_with_status(bot, "/api/chat", 200) == 1


def requests_with_status(bot: BotServer, route: str, status: int) -> float:
    """Requests the bot has finished on this route with this status (counted at their end)."""
    prefix = f'chatbot_http_requests_total{{method="POST",route="{route}",status="{status}"}} '
    for line in httpx.get(f"{bot.url}/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[1])
    return 0.0


def http_requests(bot: BotServer, route: str) -> float:
    """Responses the bot has finished on this route with 200."""
    return requests_with_status(bot, route, 200)


async def send_without_reading(
    port: int, body: dict[str, Any]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client that sends one streaming request and reads nothing yet (the writer keeps it open)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = json.dumps(body).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    await writer.drain()
    return reader, writer


async def read_response(client: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> bytes:
    """The rest of a chunked response, up to its last (empty) chunk."""
    reader, writer = client
    received = bytearray()
    async with asyncio.timeout(20):
        while not received.endswith(b"\r\n0\r\n\r\n"):
            chunk = await reader.read(1 << 20)
            if not chunk:
                break
            received += chunk
    writer.close()
    return bytes(received)


async def test_clients_that_stop_reading_do_not_hold_up_the_others(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    # The clients that stop reading ask for 8 MB answers (1,600 chunks of 5 kB): more than the
    # kernel buffers between the bot and them hold, so the bot's writes to them really wait.
    words = 1600
    fake_llm.answers["long"] = " ".join(f"<{position}>" + "." * 5000 for position in range(words))
    long_events = 1 + words + 1 + 1 + 1  # role, one chunk per word, finish_reason, usage, [DONE]
    bot = start_bot(**fake_llm.bot_settings(llm_timeout_seconds=30))
    # With the upstream's usage: counting the tokens of 8 MB would take the bot seconds.
    long = {
        "model": "bot",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "long"}],
    }
    stuck = [await send_without_reading(bot.port, long) for _ in range(3)]
    await eventually(lambda: len(fake_llm.requests) == len(stuck), within=5)
    await asyncio.sleep(0.5)  # their buffers fill up

    async def stream(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> tuple[float, str]:
        started = time.monotonic()
        response = await client.post(path, json=body)
        return time.monotonic() - started, response.text

    async with httpx.AsyncClient(base_url=bot.url, timeout=30) as client:
        results = await asyncio.gather(
            *(
                stream(client, "/v1/chat/completions", {"model": "bot", "stream": True, "messages": QUESTION})
                for _ in range(10)
            ),
            *(stream(client, "/api/chat", {"stream": True, "messages": QUESTION}) for _ in range(10)),
        )
    for seconds, text in results:
        done = '{"type": "done", "mode": "llm", "model": "gpt-4o-mini"}\n'
        assert text.endswith(("data: [DONE]\n\n", done))
        assert seconds < 5
    # None of the non-readers' answers is finished: the bot is still waiting to write to them.
    assert http_requests(bot, "/v1/chat/completions") == 10
    # Once they read, they get their whole answers.
    for received in await asyncio.gather(*(read_response(client) for client in stuck)):
        assert received.startswith(b"HTTP/1.1 200")
        assert received.count(b"data: ") == long_events
        assert b"data: [DONE]" in received[-64:]
    assert http_requests(bot, "/v1/chat/completions") == 10 + len(stuck)


async def test_a_storm_of_upstream_429s_gets_every_client_a_prompt_rate_limit_error(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(**fake_llm.bot_settings(llm_timeout_seconds=10))
    storm = 100
    fake_llm.play(*["429"] * storm)
    async with httpx.AsyncClient(base_url=bot.url, timeout=10) as client:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v1/chat/completions",
                    json={"model": "bot", "stream": number % 2 == 0, "messages": QUESTION},
                )
                for number in range(storm)
            )
        )
        elapsed = time.monotonic() - started
        for response in responses:
            assert response.status_code == 429
            assert response.headers["retry-after"] == "5"
            assert response.json()["error"]["type"] == "rate_limit_error"
            assert response.json()["error"]["code"] == "upstream_rate_limited"
        assert elapsed < bot.settings.llm_timeout_seconds
        # The storm passed: the bot is ready and answers again.
        assert (await client.get("/readyz")).status_code == 200
        answer = await client.post("/v1/chat/completions", json={"model": "bot", "messages": QUESTION})
        assert answer.json()["choices"][0]["message"]["content"] == fake_llm.answer
    assert metric(bot, "chatbot_upstream_open_requests") == 0


async def test_a_storm_of_upstream_stalls_ends_in_timeouts_within_the_configured_time(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(**fake_llm.bot_settings(llm_timeout_seconds=1.0))
    storm = 50
    fake_llm.play(*["stall"] * storm)
    async with httpx.AsyncClient(base_url=bot.url, timeout=10) as client:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v1/chat/completions",
                    json={"model": "bot", "stream": number % 2 == 0, "messages": QUESTION},
                )
                for number in range(storm)
            )
        )
        elapsed = time.monotonic() - started
        assert {response.status_code for response in responses} == {504}
        assert {response.json()["error"]["code"] for response in responses} == {"upstream_timeout"}
        # Ended by the 1 s timeout (the fake stalls for 30 s); the margin is for a busy CI machine.
        assert elapsed < 1.0 + 5
        assert (await client.get("/readyz")).status_code == 200
    assert metric(bot, "chatbot_upstream_open_requests") == 0


async def test_a_storm_of_upstream_disconnects_mid_stream_ends_every_stream_with_an_error_event(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(**fake_llm.bot_settings())
    storm = 50
    fake_llm.play(*["disconnect"] * storm)

    async def stream(client: httpx.AsyncClient, number: int) -> list[str]:
        if number % 2:
            response = await client.post("/api/chat", json={"stream": True, "messages": QUESTION})
            assert response.status_code == 200
            return [json.loads(line)["type"] for line in response.text.splitlines()][-2:]
        body = {"model": "bot", "stream": True, "messages": QUESTION}
        response = await client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200
        last = json.loads(response.text.strip().split("\n\n")[-1].removeprefix("data: "))
        return [last["error"]["type"]]

    async with httpx.AsyncClient(base_url=bot.url, timeout=10) as client:
        started = time.monotonic()
        endings = await asyncio.gather(*(stream(client, number) for number in range(storm)))
        assert time.monotonic() - started < 10
    assert endings.count(["error", "done"]) == storm // 2  # JSON API: the error, then the end
    assert endings.count(["upstream_error"]) == storm // 2  # OpenAI API: an error event, as OpenAI sends
    assert metric(bot, "chatbot_upstream_open_requests") == 0
