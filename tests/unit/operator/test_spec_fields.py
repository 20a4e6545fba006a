"""Each spec field's name and default is defined once on the operator side (spec_fields), and the
CRD declares the same: a field the bot reads defaults the same way whether or not its parent
object is present."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatbot_operator import spec_fields
from chatbot_operator.bot_settings import render_bot_settings
from chatbot_operator.durations import parse_duration

CRD_PATH = Path("crds/chatbot-operator.io_chatbots.yaml")


def spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_PATH.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def field_schema(path: tuple[str, ...]) -> dict[str, Any]:
    schema = spec_schema()
    for key in path:
        schema = schema["properties"][key]
    return schema


@pytest.mark.parametrize("field", spec_fields.BOT_SETTINGS, ids=lambda field: field.spec_path)
def test_each_rendered_field_exists_in_the_crd_with_the_same_default(field: spec_fields.BotSetting) -> None:
    declared = field_schema(field.path).get("default", spec_fields.UNSET)
    assert declared == field.default, (
        f"{field.spec_path}: CRD default {declared!r}, operator {field.default!r}"
    )


@pytest.mark.parametrize(
    ("path", "default"),
    [
        (("service", "type"), spec_fields.SERVICE_TYPE),
        (("service", "port"), spec_fields.SERVICE_PORT),
        (("llm", "apiKeySecretRef", "key"), spec_fields.LLM_KEY_SECRET_KEY),
        (("corpus", "ref"), spec_fields.CORPUS_REF),
        (("corpus", "refreshInterval"), spec_fields.CORPUS_REFRESH_INTERVAL),
        (("corpus", "maxSizeMiB"), spec_fields.CORPUS_MAX_SIZE_MIB),
        (("appConfiguration", "refreshInterval"), spec_fields.APP_CONFIGURATION_REFRESH_INTERVAL),
        (
            ("appConfiguration", "connectionStringSecretRef", "key"),
            spec_fields.APP_CONFIGURATION_CONNECTION_STRING_KEY,
        ),
    ],
)
def test_the_fields_the_operator_reads_default_as_in_the_crd(path: tuple[str, ...], default: object) -> None:
    assert field_schema(path)["default"] == default


def test_a_chatbot_without_generation_gets_the_same_defaults_as_one_with_only_max_tokens() -> None:
    without = render_bot_settings("bot", {}, "p")
    with_max_tokens = render_bot_settings("bot", {"generation": {"maxTokens": 300}}, "p")
    assert with_max_tokens == {**without, "max_tokens": 300}
    assert without["temperature"] == 0.7


def test_a_field_without_a_default_is_left_to_the_bot() -> None:
    assert "max_tokens" not in render_bot_settings("bot", {}, "p")
    assert "llm_base_url" not in render_bot_settings("bot", {"llm": {"provider": "offline"}}, "p")


def test_every_crd_duration_field_is_read_by_the_one_parser() -> None:
    assert spec_fields.corpus_refresh_interval({}) == timedelta(minutes=10)
    assert spec_fields.app_configuration_refresh_interval({"refreshInterval": "1h30m"}) == timedelta(
        minutes=90
    )
    with pytest.raises(ValueError, match=r"spec.corpus.refreshInterval: '10 minutes' is not a duration"):
        spec_fields.corpus_refresh_interval({"refreshInterval": "10 minutes"})
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(30)
