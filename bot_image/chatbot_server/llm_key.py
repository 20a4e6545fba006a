"""The LLM API key from a mounted Secret, read again while the bot runs.

The kubelet updates a mounted Secret in place (an environment variable would keep the old value until
the pod restarts), so the bot reads the key file again every RELOAD_SECONDS and hands a changed key
to the upstream client: a key rotated in its Secret reaches running pods within the kubelet's sync
period plus RELOAD_SECONDS, without a rollout. Messages name the file, never its content.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)

RELOAD_SECONDS = 10.0
# Provider keys are tens to a few hundred bytes; a larger file is not a key.
MAX_KEY_BYTES = 16 * 1024


class KeyFileError(ValueError):
    """The key file cannot be used; the message names the file and the problem, never the content."""


def read_key_file(path: Path) -> str:
    """The key in the file, surrounding whitespace removed (Secrets often end with a newline)."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_KEY_BYTES + 1)
    except OSError as error:
        raise KeyFileError(f"cannot read the LLM API key file {path}: {error.strerror}") from None
    if len(raw) > MAX_KEY_BYTES:
        raise KeyFileError(f"the LLM API key file {path} is over {MAX_KEY_BYTES // 1024} KiB: not a key")
    try:
        key = raw.decode().strip()
    except UnicodeDecodeError:
        raise KeyFileError(f"the LLM API key file {path} is not UTF-8 text") from None
    if not key:
        raise KeyFileError(f"the LLM API key file {path} is empty")
    if not key.isprintable():
        # A line break or control character would be refused in the request header, on every call.
        raise KeyFileError(
            f"the LLM API key file {path} holds line breaks or control characters inside the key"
        )
    return key


async def watch_key_file(
    path: Path,
    key: str,
    use: Callable[[str], None],
    interval: float,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Every `interval` seconds (`sleep`), read the key again and pass a changed one to `use`.

    A file that cannot be used (removed, emptied) leaves the key in use as it is: the Secret may be
    mid-update, and an old key that still works is better than none. The problem is logged once.
    """
    problem: str | None = None
    while True:
        await sleep(interval)
        try:
            current = read_key_file(path)
        except KeyFileError as error:
            if str(error) != problem:
                problem = str(error)
                log.warning("%s; the bot keeps the key it has", error)
            continue
        problem = None
        if current != key:
            key = current
            use(current)
            log.info("the LLM API key in %s changed: new requests use the new key", path)
