"""The bot's settings: defaults, sources and their precedence, and clear start-up errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import chatbot_contract as contract
from chatbot_server.settings import Settings, SettingsError, load_settings

pytestmark = pytest.mark.usefixtures("no_chatbot_environment")


def write(path: Path, values: object) -> Path:
    path.write_text(json.dumps(values))
    return path


def test_with_nothing_configured_the_bot_runs_offline_with_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "s.json", {}))
    assert settings.llm_provider == "offline"
    assert settings.max_context_tokens == 4000
    assert settings.fallback_message == "A human will be in touch shortly."
    assert settings.port == contract.PORT
    assert settings.corpus_dir == Path(contract.CORPUS_DIR)
    assert settings.api_keys_dir == Path(contract.API_KEYS_DIR)
    assert settings.greeting_text == "Hi, I'm chatbot. How can I help you?"


def test_a_missing_default_settings_file_means_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(contract, "CONFIG_FILE", str(tmp_path / "absent.json"))
    assert load_settings().name == "chatbot"


def test_an_explicitly_named_settings_file_must_exist(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(contract.CONFIG_FILE_ENV, str(tmp_path / "absent.json"))
    with pytest.raises(SettingsError, match=r"cannot read the settings file .*absent.json"):
        load_settings()


def test_the_file_is_read_and_environment_variables_win_over_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = write(
        tmp_path / "s.json",
        {"name": "docsy", "temperature": 0.2, "faq": [{"question": "Hours?", "answer": "9 to 5."}]},
    )
    monkeypatch.setenv(contract.CONFIG_FILE_ENV, str(config))
    monkeypatch.setenv("CHATBOT_TEMPERATURE", "0.7")
    monkeypatch.setenv(contract.LLM_API_KEY_ENV, "sk-test\n")
    monkeypatch.setenv(contract.CORPUS_DIR_ENV, "/srv/docs")
    settings = load_settings()
    assert settings.name == "docsy"
    assert settings.temperature == 0.7
    assert settings.faq[0].answer == "9 to 5."
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == "sk-test"
    assert settings.corpus_dir == Path("/srv/docs")


def test_command_line_overrides_win_over_everything(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(contract.PORT_ENV, "9000")
    assert load_settings(write(tmp_path / "s.json", {"port": 9001}), port=9002).port == 9002


def test_an_unknown_key_in_the_file_is_a_start_up_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"unknown key 'temprature' in the settings file"):
        load_settings(write(tmp_path / "s.json", {"temprature": 0.2}))


def test_the_llm_key_is_refused_in_the_file_because_it_is_a_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CHATBOT_LLM_API_KEY instead"):
        load_settings(write(tmp_path / "s.json", {"llm_api_key": "sk-leaked"}))


def test_an_invalid_value_names_the_setting_and_where_to_set_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(write(tmp_path / "s.json", {"temperature": 5}))
    assert "temperature: Input should be less than or equal to 2" in str(raised.value)
    assert "CHATBOT_TEMPERATURE" in str(raised.value)


def test_a_provider_without_what_it_needs_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "s.json"
    with pytest.raises(SettingsError, match="needs an API key: set CHATBOT_LLM_API_KEY"):
        load_settings(write(config, {"llm_provider": "openai"}))
    with pytest.raises(SettingsError, match="'azure-openai' needs llm_base_url"):
        load_settings(write(config, {"llm_provider": "azure-openai"}), llm_api_key="k")
    compatible = load_settings(
        write(config, {"llm_provider": "openai-compatible", "llm_base_url": "http://x/v1"})
    )
    assert compatible.llm_api_key is None  # local servers need no key


def test_an_empty_api_keys_dir_variable_disables_authentication(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(contract.API_KEYS_DIR_ENV, "")
    assert load_settings(write(tmp_path / "s.json", {})).api_keys_dir is None


def test_the_contract_environment_variables_are_settings_fields() -> None:
    # The operator renders these variables; each must land in a field of the same name.
    for variable in (
        contract.LLM_API_KEY_ENV,
        contract.LLM_API_KEY_FILE_ENV,
        contract.API_KEYS_DIR_ENV,
        contract.CORPUS_DIR_ENV,
        contract.PORT_ENV,
    ):
        field = variable.removeprefix(contract.ENV_PREFIX).lower()
        assert field in Settings.model_fields, variable


FALLBACK = {"provider": "openai-compatible", "model": "backup", "base_url": "http://backup.llm:8000/v1"}


def test_fallback_models_follow_the_primary_and_their_keys_are_read_from_their_files(tmp_path: Path) -> None:
    key = tmp_path / "fallback-key"
    key.write_text("sk-backup\n")
    azure = {"provider": "azure-openai", "model": "gpt-4o", "base_url": "https://r.openai.azure.com"}
    settings = load_settings(
        write(
            tmp_path / "s.json",
            {
                "llm_provider": "openai-compatible",
                "llm_base_url": "http://primary:8000/v1",
                "model": "primary",
                "llm_fallbacks": [FALLBACK, {**azure, "api_key_file": str(key)}],
            },
        )
    )
    assert [model.model for model in settings.llm_models] == ["primary", "backup", "gpt-4o"]
    backup_key = settings.llm_models[2].api_key
    assert backup_key is not None
    assert backup_key.get_secret_value() == "sk-backup"
    assert "sk-backup" not in repr(settings)


@pytest.mark.parametrize(
    ("fallback", "expected"),
    [
        (
            {"provider": "openai-compatible", "base_url": "http://b:1/v1"},
            "llm_fallbacks.0.model: Field required",
        ),
        ({**FALLBACK, "base_url": "ftp://backup"}, "llm_fallbacks.0.base_url: String should match pattern"),
        ({**FALLBACK, "api_key": "sk-inline"}, "set api_key_file, not api_key"),
        ({"provider": "openai", "model": "m"}, "provider 'openai' needs an API key: set api_key_file"),
        ({"provider": "azure-openai", "model": "m"}, "provider 'azure-openai' needs base_url"),
        (
            {**FALLBACK, "api_key_file": "/nonexistent/key"},
            "cannot read the LLM API key file /nonexistent/key",
        ),
    ],
)
def test_a_bad_fallback_is_a_start_up_error_naming_the_fallback_and_its_field(
    tmp_path: Path, fallback: dict[str, str], expected: str
) -> None:
    values = {"llm_provider": "openai-compatible", "llm_base_url": "http://p/v1", "llm_fallbacks": [fallback]}
    with pytest.raises(SettingsError) as raised:
        load_settings(write(tmp_path / "s.json", values))
    assert expected in str(raised.value)
    assert "sk-inline" not in str(raised.value)


def test_fallbacks_without_a_primary_model_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="llm_fallbacks need a primary model"):
        load_settings(write(tmp_path / "s.json", {"llm_fallbacks": [FALLBACK]}))
