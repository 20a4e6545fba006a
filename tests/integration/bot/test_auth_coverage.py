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
