"""GitCredentials: parsed from a Secret's data, never shown."""

import pytest

from chatbot_contract.corpus_errors import redact
from chatbot_contract.corpus_git import git_environment
from chatbot_operator.corpus import INVALID_CREDENTIALS, CorpusError, GitCredentials

TOKEN = "ghp_s3cr3tT0kenValue"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def test_https_token_is_read_from_token_or_password_key() -> None:
    assert GitCredentials.from_secret_data({"token": TOKEN}).token == TOKEN
    from_password = GitCredentials.from_secret_data({"username": "bot", "password": TOKEN})
    assert (from_password.username, from_password.token) == ("bot", TOKEN)


def test_ssh_key_and_known_hosts_are_read_from_their_keys() -> None:
    credentials = GitCredentials.from_secret_data(
        {"ssh-privatekey": KEY, "known_hosts": "github.com ssh-ed25519 AAAA"}
    )
    assert credentials.ssh_private_key == KEY
    assert credentials.known_hosts == "github.com ssh-ed25519 AAAA"
    assert credentials.token is None


def test_secret_without_token_or_key_is_rejected_naming_the_keys_present() -> None:
    with pytest.raises(CorpusError) as caught:
        GitCredentials.from_secret_data({"username": "bot", "token": "  "})
    assert caught.value.reason == INVALID_CREDENTIALS
    assert "keys present: token, username" in caught.value.message


def test_repr_and_str_never_reveal_values() -> None:
    credentials = GitCredentials(username="bot", token=TOKEN, ssh_private_key=KEY, known_hosts="kh")
    for text in (repr(credentials), str(credentials), f"{credentials}", repr([credentials])):
        assert TOKEN not in text
        assert "OPENSSH" not in text
        assert "bot" not in text
    assert "token" in repr(credentials)  # says which keys are there


def test_redact_removes_url_user_info_and_secret_values() -> None:
    text = f"fatal: unable to access 'https://bot:{TOKEN}@example.com/docs.git/': {TOKEN}"
    redacted = redact(text, [TOKEN])
    assert TOKEN not in redacted
    assert "https://***@example.com/docs.git/" in redacted


def test_https_token_reaches_git_only_as_a_header_scoped_to_the_repository_host() -> None:
    credentials = GitCredentials(token=TOKEN)
    with git_environment("https://git.example.com:8443/org/docs.git", credentials, timeout=5) as env:
        assert env["GIT_CONFIG_KEY_0"] == "http.https://git.example.com:8443/.extraHeader"
        assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
        assert TOKEN not in env["GIT_CONFIG_VALUE_0"]  # base64 of user:token
        assert env["GIT_TERMINAL_PROMPT"] == "0"
        assert env["GIT_ALLOW_PROTOCOL"] == "https:http:ssh:git"


def test_ssh_key_is_written_to_a_private_file_removed_afterwards() -> None:
    credentials = GitCredentials(ssh_private_key=KEY.rstrip("\n"), known_hosts="example.com ssh-ed25519 AAAA")
    with git_environment("git@example.com:org/docs.git", credentials, timeout=5) as env:
        command = env["GIT_SSH_COMMAND"]
        key_path = command.split(" -i ")[1].split()[0]
        from pathlib import Path

        key_file = Path(key_path)
        assert key_file.read_text() == KEY  # with the final newline OpenSSH needs
        assert key_file.stat().st_mode & 0o077 == 0
        assert "StrictHostKeyChecking=yes" in command
        assert "BatchMode=yes" in command
    assert not key_file.exists()


def test_credentials_that_do_not_fit_the_url_scheme_are_rejected() -> None:
    with (
        pytest.raises(CorpusError, match="SSH URL but the credentials Secret has no `ssh-privatekey`"),
        git_environment("ssh://git@example.com/org/docs.git", GitCredentials(token=TOKEN), timeout=5),
    ):
        pass
    with (
        pytest.raises(CorpusError, match="has no `token`"),
        git_environment("https://example.com/org/docs.git", GitCredentials(ssh_private_key=KEY), timeout=5),
    ):
        pass
