"""The fetch command's settings and sparse-checkout patterns."""

from pathlib import Path

import pytest

import chatbot_contract as contract
from chatbot_contract.corpus_errors import CorpusError
from chatbot_server.corpus_fetch import INVALID_SETTINGS, FetchSettings, main, sparse_patterns

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_paths_become_patterns_anchored_at_the_repository_root() -> None:
    assert sparse_patterns(["docs/**/*.md", "./README.md", "/guides/", "faq"]) == [
        "/docs/**/*.md",
        "/README.md",
        "/guides/",
        "/faq",
    ]


@pytest.mark.parametrize("path", ["../secrets", "docs/../../x", "!docs", "", "/"])
def test_paths_outside_the_repository_or_negations_are_rejected(path: str) -> None:
    with pytest.raises(CorpusError) as caught:
        sparse_patterns([path])
    assert caught.value.reason == INVALID_SETTINGS


def test_settings_are_read_from_the_contract_env() -> None:
    settings = FetchSettings.from_env(
        {
            contract.CORPUS_REPO_ENV: "https://example.com/docs.git",
            contract.CORPUS_COMMIT_ENV: COMMIT.upper(),
            contract.CORPUS_PATHS_ENV: '["docs"]',
            contract.CORPUS_DIR_ENV: "/data",
            contract.CORPUS_MAX_SIZE_ENV: "1024",
            contract.CORPUS_CREDENTIALS_DIR_ENV: "/creds",
        }
    )
    assert settings.commit == COMMIT
    assert settings.paths == ("docs",)
    assert settings.destination == Path("/data")
    assert settings.max_size_bytes == 1024
    assert settings.credentials_dir == Path("/creds")
    assert settings.termination_log == Path(contract.TERMINATION_LOG)


def test_a_ref_instead_of_a_commit_is_refused() -> None:
    with pytest.raises(CorpusError, match="not a full commit SHA"):
        FetchSettings.from_env(
            {contract.CORPUS_REPO_ENV: "https://example.com/r.git", contract.CORPUS_COMMIT_ENV: "main"}
        )


def test_missing_settings_fail_with_a_termination_message(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    assert main({contract.CORPUS_TERMINATION_LOG_ENV: str(log)}) == 1
    assert (
        log.read_text() == f"{INVALID_SETTINGS}: environment variable {contract.CORPUS_REPO_ENV} is not set"
    )
