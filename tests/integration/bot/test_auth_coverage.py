"""With API keys mounted, every route of the bot's API refuses a request without a valid key.

The routes come from the bot's own OpenAPI document, so a route added later is covered without
touching this test; only the public ones (the page, its info, the probes, metrics and the schema
itself) are listed here, with why each is public.
"""

from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.bot_server import BotServer

# The web page and what it needs before the user enters a key, the kubelet's probes, Prometheus'
# scrape and the API's own description: none of them reveals or spends anything.
PUBLIC_PATHS = {"/", "/api/info", "/healthz", "/readyz", "/metrics", "/openapi.json"}
SAMPLE_BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def bot(start_bot: Any, tmp_path: Path) -> BotServer:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "team-a").write_text("key-a\n")
    server: BotServer = start_bot(api_keys_dir=keys)
    return server


def api_operations(bot: BotServer) -> list[tuple[str, str]]:
    schema = httpx.get(f"{bot.url}/openapi.json").json()
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


def test_every_non_public_route_needs_a_valid_key(bot: BotServer) -> None:
    operations = api_operations(bot)
    protected = [(method, path) for method, path in operations if path not in PUBLIC_PATHS]
    assert ("POST", "/api/chat") in protected
    assert ("POST", "/api/feedback") in protected
    assert ("POST", "/v1/chat/completions") in protected
    assert ("GET", "/v1/models") in protected
    for method, path in protected:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "key-a"}):
            response = httpx.request(method, f"{bot.url}{path}", json=SAMPLE_BODY, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers.get("www-authenticate", "").lower().startswith("bearer"), (method, path)
        allowed = httpx.request(
            method, f"{bot.url}{path}", json=SAMPLE_BODY, headers={"Authorization": "Bearer key-a"}
        )
        assert allowed.status_code != 401, (method, path, allowed.text)


def test_public_routes_stay_public_and_reveal_no_key(bot: BotServer) -> None:
    for method, path in api_operations(bot):
        if path in PUBLIC_PATHS:
            response = httpx.request(method, f"{bot.url}{path}")
            assert response.status_code == 200, (method, path)
            assert "key-a" not in response.text


@pytest.mark.parametrize("path", ["/api/chat", "/api/feedback", "/v1/chat/completions"])
@pytest.mark.parametrize("content", [b"not json", b'{"messages": 5}', b"[" * 5000])
def test_the_key_is_checked_before_the_body_is_read(bot: BotServer, path: str, content: bytes) -> None:
    # A caller without a key learns nothing about what a valid body looks like.
    response = httpx.post(f"{bot.url}{path}", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "missing_api_key"


def test_the_chat_routes_document_the_bodies_they_read(bot: BotServer) -> None:
    schema = httpx.get(f"{bot.url}/openapi.json").json()
    components = schema["components"]["schemas"]
    for path, model, field in (
        ("/api/chat", "ChatRequest", "messages"),
        ("/v1/chat/completions", "ChatCompletionRequest", "messages"),
    ):
        body = schema["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        reference = body["content"]["application/json"]["schema"]["$ref"]
        assert reference == f"#/components/schemas/{model}"
        assert field in components[model]["required"]
        # Every schema the body refers to is in the document.
        for item in components[model]["properties"][field]["items"].values():
            if isinstance(item, str) and item.startswith("#/components/schemas/"):
                assert item.rsplit("/", 1)[1] in components
