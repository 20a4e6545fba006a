"""Operator settings from environment variables and flags."""

from pathlib import Path

import pytest

from chatbot_operator.config import DEFAULT_BOT_IMAGE, OperatorSettings, SettingsError


def test_defaults_watch_every_namespace() -> None:
    settings = OperatorSettings.from_sources({})
    assert settings.namespaces == ()
    assert settings.bot_image == DEFAULT_BOT_IMAGE
    assert settings.log_format == "text"
    assert settings.liveness_port == 8081


def test_environment_sets_every_setting() -> None:
    settings = OperatorSettings.from_sources(
        {
            "CHATBOT_OPERATOR_NAMESPACES": "docs, support",
            "CHATBOT_OPERATOR_LOG_LEVEL": "debug",
            "CHATBOT_OPERATOR_LOG_FORMAT": "JSON",
            "CHATBOT_OPERATOR_BOT_IMAGE": "registry.example/bot:2",
            "CHATBOT_OPERATOR_LIVENESS_PORT": "9000",
            "CHATBOT_OPERATOR_REFRESH_CHECK_SECONDS": "5",
        }
    )
    assert settings.namespaces == ("docs", "support")
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "json"
    assert settings.bot_image == "registry.example/bot:2"
    assert settings.liveness_port == 9000
    assert settings.refresh_check_seconds == 5.0


def test_flags_override_the_environment() -> None:
    settings = OperatorSettings.from_sources(
        {"CHATBOT_OPERATOR_NAMESPACES": "docs"}, ["--namespaces", "support", "--log-format", "json"]
    )
    assert settings.namespaces == ("support",)
    assert settings.log_format == "json"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"CHATBOT_OPERATOR_LOG_FORMAT": "xml"}, "log format"),
        ({"CHATBOT_OPERATOR_LOG_LEVEL": "loud"}, "log level"),
        ({"CHATBOT_OPERATOR_LIVENESS_PORT": "http"}, "liveness port"),
        ({"CHATBOT_OPERATOR_REFRESH_CHECK_SECONDS": "-1"}, "refresh check seconds"),
        ({"CHATBOT_OPERATOR_METRICS_PORT": "70000"}, "metrics port"),
        ({"CHATBOT_OPERATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "maybe"}, "challenge-resource"),
        ({"CHATBOT_OPERATOR_KEYVAULT_CA_BUNDLE": "/nonexistent/ca.pem"}, "Key Vault CA bundle"),
        ({"CHATBOT_OPERATOR_NO_SUCH": "x"}, None),
    ],
)
def test_bad_values_name_the_setting(environ: dict[str, str], named: str | None) -> None:
    if named is None:
        OperatorSettings.from_sources(environ)  # unknown variables are not ours to judge
        return
    with pytest.raises(SettingsError, match=named):
        OperatorSettings.from_sources(environ)


def test_metrics_can_be_turned_off_and_unknown_flags_are_refused() -> None:
    assert OperatorSettings.from_sources({}).metrics_port == 0
    assert OperatorSettings.from_sources({"CHATBOT_OPERATOR_METRICS_PORT": "8082"}).metrics_port == 8082
    with pytest.raises(SystemExit):
        OperatorSettings.from_sources({}, ["--no-such-flag"])


def test_key_vault_options_default_to_the_sdk_and_can_point_at_an_emulator(tmp_path: Path) -> None:
    from chatbot_operator.observations import keyvault_options

    ca_bundle = tmp_path / "vault-ca.pem"
    ca_bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    default = keyvault_options(OperatorSettings.from_sources({}))
    assert (default.api_version, default.connection_verify, default.verify_challenge_resource) == (
        None,
        True,
        True,
    )
    emulator = keyvault_options(
        OperatorSettings.from_sources(
            {
                "CHATBOT_OPERATOR_KEYVAULT_API_VERSION": "7.6",
                "CHATBOT_OPERATOR_KEYVAULT_CA_BUNDLE": str(ca_bundle),
                "CHATBOT_OPERATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false",
            }
        )
    )
    assert (emulator.api_version, emulator.connection_verify, emulator.verify_challenge_resource) == (
        "7.6",
        str(ca_bundle),
        False,
    )
