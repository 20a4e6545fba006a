"""The upstream's proxy comes from the environment, as the SDK's own HTTP client would use it."""

import pytest

from chatbot_server.llm import environment_proxy

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES + tuple(name.lower() for name in PROXY_VARIABLES):
        monkeypatch.delenv(name, raising=False)


def test_no_proxy_by_default() -> None:
    assert environment_proxy("https://api.openai.com/v1/chat/completions") is None


def test_the_proxy_of_the_upstream_scheme_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain.internal:3128")
    assert environment_proxy("https://api.openai.com/v1/chat/completions") == "http://proxy.internal:3128"
    assert environment_proxy("http://vllm.models:8000/v1/chat/completions") == "http://plain.internal:3128"


def test_no_proxy_hosts_are_reached_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.svc.cluster.local")
    assert environment_proxy("https://ollama.models.svc.cluster.local/v1/chat/completions") is None
    assert environment_proxy("https://api.openai.com/v1/chat/completions") == "http://proxy.internal:3128"
