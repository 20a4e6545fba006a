"""schemathesis against the bot's OpenAPI document: generated requests never cause a server error."""

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

# The document is the same for every bot; the requests go to a live one (the fixture below).
schema = from_dict(create_app(Settings(api_keys_dir=None)).openapi())


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    directory = tmp_path_factory.mktemp("fuzz")
    corpus = directory / "corpus"
    corpus.mkdir()
    (corpus / "faq.md").write_text("# Refunds\n\nRefunds are paid within 14 days.\n")
    with BotServer(directory, {"faq": FAQ}, corpus_dir=corpus) as server:
        yield server


# Bounded: a few dozen cases per operation keeps the whole run well under a minute.
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case, bot: BotServer) -> None:
    # Every check runs but one: a schema-valid conversation may still break a rule the schema cannot
    # express (the last message must be the user's), and the bot rightly answers that with a 400.
    case.call_and_validate(base_url=bot.url, timeout=10, excluded_checks=[checks.positive_data_acceptance])
