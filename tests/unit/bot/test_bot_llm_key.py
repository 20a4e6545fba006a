"""The LLM API key read from a mounted Secret: at start (settings) and again while the bot runs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from tests.support.secret_volume import write_secret_volume

import chatbot_contract as contract
from chatbot_server.llm_key import KeyFileError, read_key_file, watch_key_file
from chatbot_server.settings import SettingsError, load_settings

pytestmark = pytest.mark.usefixtures("no_chatbot_environment")


def mount_secret(volume: Path, key: str) -> Path:
    write_secret_volume(volume, {contract.LLM_API_KEY_FILE_NAME: key})
    return volume / contract.LLM_API_KEY_FILE_NAME


def no_settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.json"
    path.write_text("{}")
    return path


def test_the_key_is_read_without_the_newline_secrets_often_end_with(tmp_path: Path) -> None:
    assert read_key_file(mount_secret(tmp_path / "vol", "sk-first\n")) == "sk-first"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b"sk-secret-part\nsecond-line", "line breaks or control characters"),
        (b"sk-secret\x00part", "line breaks or control characters"),
        (b"\xffsk-secret", "not UTF-8 text"),
        (b"s" * (16 * 1024 + 1), "over 16 KiB"),
    ],
)
def test_an_unusable_key_file_names_the_file_and_the_problem_never_the_content(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "apiKey"
    path.write_bytes(content)
    with pytest.raises(KeyFileError, match=problem) as raised:
        read_key_file(path)
    assert str(path) in str(raised.value)
    assert "secret" not in str(raised.value)


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"cannot read the LLM API key file .*absent: No such file"):
        read_key_file(tmp_path / "absent")


def test_the_settings_take_the_key_from_the_file_the_operator_points_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(contract.LLM_API_KEY_FILE_ENV, str(mount_secret(tmp_path / "vol", "sk-from-file\n")))
    settings = load_settings(no_settings_file(tmp_path), llm_provider="openai")
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == "sk-from-file"
    assert "sk-from-file" not in repr(settings)


def test_a_key_file_that_cannot_be_used_stops_the_start_with_its_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(contract.LLM_API_KEY_FILE_ENV, str(tmp_path / "absent"))
    with pytest.raises(SettingsError, match=r"cannot read the LLM API key file .*absent"):
        load_settings(no_settings_file(tmp_path), llm_provider="openai")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    monkeypatch.setenv(contract.LLM_API_KEY_FILE_ENV, str(empty))
    with pytest.raises(SettingsError, match="is empty"):
        load_settings(no_settings_file(tmp_path), llm_provider="openai")


def test_a_key_both_in_a_variable_and_in_a_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(contract.LLM_API_KEY_FILE_ENV, str(mount_secret(tmp_path / "vol", "sk-file")))
    monkeypatch.setenv(contract.LLM_API_KEY_ENV, "sk-variable")
    with pytest.raises(SettingsError, match="not both") as raised:
        load_settings(no_settings_file(tmp_path), llm_provider="openai")
    assert "sk-file" not in str(raised.value)
    assert "sk-variable" not in str(raised.value)


class Checks:
    """Stands in for the watcher's sleep: each `run_one()` lets exactly one check of the key file
    run, and returns once it has (no timing involved)."""

    def __init__(self) -> None:
        self._go = asyncio.Event()
        self._waiting = asyncio.Event()

    async def sleep(self, _seconds: float) -> None:
        self._waiting.set()
        await self._go.wait()
        self._go.clear()

    async def run_one(self) -> None:
        await asyncio.wait_for(self._waiting.wait(), timeout=5)  # the watcher waits for its check
        self._waiting.clear()
        self._go.set()
        await asyncio.wait_for(self._waiting.wait(), timeout=5)  # it has checked, and waits again


async def test_a_rotated_key_is_handed_over_and_a_broken_file_keeps_the_key_in_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    volume = tmp_path / "vol"
    path = mount_secret(volume, "sk-first")
    used: list[str] = []
    checks = Checks()
    watching = asyncio.create_task(watch_key_file(path, "sk-first", used.append, 10.0, sleep=checks.sleep))
    try:
        await checks.run_one()
        assert used == []  # unchanged: nothing handed over
        mount_secret(volume, "sk-second\n")
        await checks.run_one()
        assert used == ["sk-second"]
        with caplog.at_level(logging.WARNING):
            mount_secret(volume, "")  # emptied by mistake
            await checks.run_one()
            await checks.run_one()
        assert used == ["sk-second"]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, warnings  # once, not at every check
        assert "is empty; the bot keeps the key it has" in warnings[0]
        mount_secret(volume, "sk-third")
        await checks.run_one()
        assert used == ["sk-second", "sk-third"]
        assert not any("sk-" in r.getMessage() for r in caplog.records)
    finally:
        watching.cancel()
