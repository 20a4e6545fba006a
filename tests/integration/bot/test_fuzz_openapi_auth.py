"""schemathesis against a bot that requires an API key: every operation, with and without the key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.openapi import from_dict
from tests.support.bot_server import BotServer

from chatbot_server.app import create_app
from chatbot_server.settings import Settings

from .conftest import FAQ

schema = from_dict(create_app(Settings(api_keys_dir=None)).openapi())

KEY = "fuzz-client-key-5b1f0c"
# The operations that answer questions; probes, metrics, the page and its info stay open (the test
# below checks every operation of the schema against this set).
PROTECTED = {"/api/chat", "/api/feedback", "/v1/chat/completions", "/v1/models"}


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    directory = tmp_path_factory.mktemp("fuzz-auth")
    keys = directory / "api-keys"
    keys.mkdir()
    (keys / "client").write_text(KEY + "\n")
    with BotServer(directory, {"faq": FAQ}, api_keys_dir=keys) as server:
        yield server


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_with_the_key_no_generated_request_gets_a_server_error(
    case: schemathesis.Case, bot: BotServer
) -> None:
    # As in test_bot_openapi_fuzz.py: a schema-valid conversation may still end with an assistant
    # message, which the bot rightly refuses with a 400.
    case.call_and_validate(
        base_url=bot.url,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=10,
        excluded_checks=[checks.positive_data_acceptance],
    )


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_without_the_key_protected_operations_answer_401_and_the_others_answer(
    case: schemathesis.Case, bot: BotServer
) -> None:
    for headers, code in (
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer not-the-key"}, "invalid_api_key"),
    ):
        response = case.call(base_url=bot.url, headers=headers, timeout=10)
        if case.method.upper() != case.operation.method.upper():
            # schemathesis also tries methods the operation does not have: refused before auth.
            assert response.status_code == 405
        elif case.path in PROTECTED:
            # Whatever the body (not JSON, not valid): the key is checked first.
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == ["Bearer"]  # (schemathesis: lists)
            assert response.json()["error"]["type"] == "authentication_error"
            assert response.json()["error"]["code"] == code
        else:
            assert response.status_code == 200, response.text
        assert KEY not in response.text
