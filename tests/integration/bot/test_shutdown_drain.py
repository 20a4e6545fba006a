"""SIGTERM, as the kubelet sends it: the bot process drains its open streams, then exits 0."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import aiohttp
import pytest
from tests.support.fake_llm import FakeLLM
from tests.support.soak import bot_process, wait_ready

import chatbot_contract as contract

WORDS = 30
CHUNK_DELAY = 0.1  # a 3 s answer


async def test_sigterm_lets_open_streams_finish_refuses_new_connections_and_exits_0(tmp_path: Path) -> None:
    answer = " ".join(f"word{position}" for position in range(WORDS))
    with FakeLLM(answer=answer, chunk_delay=CHUNK_DELAY) as upstream:
        settings = {
            **upstream.bot_settings(llm_timeout_seconds=5),
            "api_keys_dir": None,
            "corpus_dir": str(tmp_path),
        }
        with bot_process(settings, tmp_path) as (process, url):
            async with aiohttp.ClientSession() as session:
                async with asyncio.timeout(60):
                    await wait_ready(session, url)
                first_chunks = asyncio.Semaphore(0)

                async def stream(path: str, body: dict[str, object]) -> list[bytes]:
                    lines = []
                    async with session.post(f"{url}{path}", json=body) as response:
                        assert response.status == 200
                        async for line in response.content:
                            if line.strip():
                                if not lines:
                                    first_chunks.release()
                                lines.append(line.strip())
                    return lines

                question = [{"role": "user", "content": "hello?"}]
                streams = [
                    asyncio.create_task(
                        stream("/v1/chat/completions", {"model": "b", "stream": True, "messages": question})
                    )
                    for _ in range(10)
                ] + [
                    asyncio.create_task(stream("/api/chat", {"stream": True, "messages": question}))
                    for _ in range(10)
                ]
                for _ in streams:
                    await asyncio.wait_for(first_chunks.acquire(), 10)
                process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                await asyncio.sleep(0.3)
                # The listening socket is closed at once: new connections are refused.
                with pytest.raises(aiohttp.ClientConnectorError):
                    async with aiohttp.ClientSession() as fresh:
                        await fresh.get(f"{url}/healthz")
                results = await asyncio.gather(*streams)
            exit_code = await asyncio.to_thread(process.wait, contract.DRAIN_SECONDS + 5)
            drained_after = time.monotonic() - signalled
    # Every open stream got its whole answer and its proper end.
    for lines in results[:10]:
        assert lines[-1] == b"data: [DONE]"
        assert sum(b"word" in line for line in lines) == WORDS
    for lines in results[10:]:
        events = [json.loads(line) for line in lines]
        assert events[-1] == {"type": "done", "mode": "llm", "model": "gpt-4o-mini"}
        assert "".join(event["text"] for event in events if event["type"] == "delta") == answer
    assert exit_code == 0
    assert drained_after < contract.DRAIN_SECONDS
