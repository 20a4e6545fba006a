"""Splitting an upstream's SSE body into lines, read by read, whatever the reads' boundaries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatbot_server.llm import MAX_LINE_BYTES, UpstreamStreamError, split_lines


def batches(*reads: bytes) -> list[list[str]]:
    async def source() -> AsyncIterator[bytes]:
        for read in reads:
            yield read

    async def collect() -> list[list[str]]:
        return [lines async for lines in split_lines(source())]

    return asyncio.run(collect())


def test_lines_that_arrive_together_come_out_together() -> None:
    together, alone = batches(b"data: 1\n\ndata: 2\n\n", b"data: 3\n\n")
    assert together == ["data: 1", "", "data: 2", ""]
    assert alone == ["data: 3", ""]


def test_a_line_cut_between_reads_comes_whole_with_the_read_that_ends_it() -> None:
    assert batches(b'data: {"a', b'": 1}', b"\n\n") == [['data: {"a": 1}', ""]]


def test_crlf_line_ends_and_a_last_line_without_an_end_are_read() -> None:
    assert batches(b"data: 1\r\n\r\ndata: [DONE]") == [["data: 1", ""], ["data: [DONE]"]]


def test_utf8_cut_between_reads_is_decoded_once_whole() -> None:
    text = "data: café ☕\n".encode()
    assert batches(text[:10], text[10:]) == [["data: café ☕"]]


def test_an_endless_line_is_refused_instead_of_held_in_memory() -> None:
    with pytest.raises(UpstreamStreamError, match="longer than"):
        batches(*[b"x" * 65536] * (MAX_LINE_BYTES // 65536 + 1))
