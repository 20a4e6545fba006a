"""Fixtures shared by the bot's unit tests."""

from __future__ import annotations

import os

import pytest

import chatbot_contract as contract


@pytest.fixture
def no_chatbot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No `CHATBOT_*` variable of the machine running the tests reaches the settings under test."""
    for name in list(os.environ):
        if name.startswith(contract.ENV_PREFIX):
            monkeypatch.delenv(name)
