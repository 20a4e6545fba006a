"""git's failures mapped to reasons a user can act on, and failures read back from a pod."""

from typing import Any

import pytest

from chatbot_contract.corpus_errors import classify_git_failure
from chatbot_contract.corpus_git import validate_repo_url
from chatbot_operator.corpus import (
    AUTHENTICATION_FAILED,
    CORPUS_TOO_LARGE,
    FETCH_FAILED,
    GIT_FAILED,
    HOST_KEY_VERIFICATION_FAILED,
    INVALID_REPOSITORY,
    NETWORK_TIMEOUT,
    REF_NOT_FOUND,
    REPOSITORY_NOT_FOUND,
    REPOSITORY_UNREACHABLE,
    CorpusError,
    GitCredentials,
    corpus_failure_from_pod,
    resolve_corpus_commit,
)

REPO = "https://git.example.com/org/docs.git"


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        ("fatal: repository 'https://git.example.com/org/docs.git/' not found", REPOSITORY_NOT_FOUND),
        (
            "remote: Repository not found.\nfatal: repository 'https://github.com/o/r.git/' not found",
            REPOSITORY_NOT_FOUND,
        ),
        ("fatal: remote error: access denied or repository not exported: /docs.git", REPOSITORY_NOT_FOUND),
        ("ERROR: Repository not found.\nfatal: Could not read from remote repository.", REPOSITORY_NOT_FOUND),
        (
            "fatal: could not read Username for 'https://git.example.com': terminal prompts disabled",
            AUTHENTICATION_FAILED,
        ),
        ("fatal: Authentication failed for 'https://git.example.com/org/docs.git/'", AUTHENTICATION_FAILED),
        (
            "git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.",
            AUTHENTICATION_FAILED,
        ),
        (
            "fatal: unable to access 'https://x/': The requested URL returned error: 403",
            AUTHENTICATION_FAILED,
        ),
        (
            "Host key verification failed.\nfatal: Could not read from remote repository.",
            HOST_KEY_VERIFICATION_FAILED,
        ),
        (
            "fatal: remote error: upload-pack: not our ref 1111111111111111111111111111111111111111",
            REF_NOT_FOUND,
        ),
        ("fatal: couldn't find remote ref refs/heads/nope", REF_NOT_FOUND),
        ("fatal: unable to access 'https://x/': Operation too slow. Less than 1 bytes/sec", NETWORK_TIMEOUT),
        ("ssh: connect to host example.com port 22: Connection timed out", NETWORK_TIMEOUT),
        ("fatal: unable to access 'https://x/': Could not resolve host: x", REPOSITORY_UNREACHABLE),
        (
            "fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection refused",
            REPOSITORY_UNREACHABLE,
        ),
        ("fatal: transport 'file' not allowed", INVALID_REPOSITORY),
        ("fatal: something nobody has seen before", GIT_FAILED),
    ],
)
def test_git_stderr_maps_to_its_reason(stderr: str, reason: str) -> None:
    assert classify_git_failure(stderr, repo=REPO, credentials=None, timeout=20).reason == reason


def test_not_found_message_suggests_credentials_for_a_private_repository() -> None:
    error = classify_git_failure("fatal: repository 'x' not found", repo=REPO, credentials=None, timeout=20)
    assert "spec.corpus.repo" in error.message
    assert "spec.corpus.credentialsSecretRef" in error.message


def test_authentication_message_differs_with_and_without_credentials() -> None:
    stderr = "fatal: could not read Username for 'https://git.example.com': terminal prompts disabled"
    without = classify_git_failure(stderr, repo=REPO, credentials=None, timeout=20)
    refused = classify_git_failure(stderr, repo=REPO, credentials=GitCredentials(token="t0ken"), timeout=20)
    assert "requires authentication" in without.message
    assert "refused the credentials" in refused.message


def test_messages_never_echo_user_info_or_the_token() -> None:
    token = "glpat-abcdefghijkl"
    stderr = f"fatal: unable to access 'https://bot:{token}@git.example.com/': weird failure {token}"
    error = classify_git_failure(
        stderr,
        repo=f"https://bot:{token}@git.example.com/org/docs.git",
        credentials=GitCredentials(token=token),
        timeout=20,
    )
    assert token not in error.message
    assert token not in str(error)


def test_timeout_message_names_the_limit() -> None:
    error = classify_git_failure("Operation too slow", repo=REPO, credentials=None, timeout=20)
    assert "within 20s" in error.message


@pytest.mark.parametrize(
    "repo",
    [
        "file:///etc",
        "ext::sh -c id",
        "-uhelp",
        "https://bot:pw@example.com/r.git",
        "docs",
        "ftp://example.com/r",
    ],
)
def test_unsupported_or_dangerous_repository_urls_are_rejected(repo: str) -> None:
    with pytest.raises(CorpusError) as caught:
        validate_repo_url(repo)
    assert caught.value.reason == INVALID_REPOSITORY
    assert "pw@" not in caught.value.message


@pytest.mark.parametrize(
    "repo",
    [
        "https://github.com/o/r.git",
        "http://127.0.0.1:8080/r.git",
        "ssh://git@github.com/o/r.git",
        "git@github.com:o/r.git",
        "git://example.com/r.git",
    ],
)
def test_supported_repository_urls_are_accepted(repo: str) -> None:
    validate_repo_url(repo)


def test_a_full_sha_is_pinned_without_contacting_the_repository() -> None:
    sha = "0123456789ABCDEF0123456789abcdef01234567"
    assert resolve_corpus_commit("https://unreachable.invalid/r.git", sha, None) == sha.lower()


def test_an_abbreviated_sha_asks_for_the_full_one() -> None:
    with pytest.raises(CorpusError) as caught:
        resolve_corpus_commit("https://unreachable.invalid/r.git", "1a2b3c4", None)
    assert caught.value.reason == REF_NOT_FOUND
    assert "full 40-character SHA" in caught.value.message


def _pod(**corpus_status: object) -> dict[str, Any]:
    return {"status": {"initContainerStatuses": [{"name": "corpus", **corpus_status}]}}


def test_failure_is_read_from_the_terminated_init_container() -> None:
    pod = _pod(
        state={
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "message": "CorpusTooLarge: the configured paths ...",
            }
        }
    )
    assert corpus_failure_from_pod(pod) == CorpusError(CORPUS_TOO_LARGE, "the configured paths ...")


def test_failure_is_read_from_the_last_state_while_the_init_container_backs_off() -> None:
    pod = _pod(
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        lastState={"terminated": {"exitCode": 1, "message": "RefNotFound: commit abc was not found in x"}},
    )
    error = corpus_failure_from_pod(pod)
    assert error is not None
    assert (error.reason, error.message) == (REF_NOT_FOUND, "commit abc was not found in x")


def test_a_fetch_killed_without_a_message_is_still_reported() -> None:
    pod = _pod(state={"terminated": {"exitCode": 137, "reason": "OOMKilled"}})
    error = corpus_failure_from_pod(pod)
    assert error is not None
    assert error.reason == FETCH_FAILED
    assert "OOMKilled" in error.message
    assert "exit code 137" in error.message


def test_log_tail_fallback_message_is_reported_as_fetch_failed() -> None:
    pod = _pod(state={"terminated": {"exitCode": 1, "message": "Traceback ...\nMemoryError"}})
    error = corpus_failure_from_pod(pod)
    assert error is not None
    assert error.reason == FETCH_FAILED
    assert "MemoryError" in error.message


@pytest.mark.parametrize(
    "pod",
    [
        {},
        {"status": {}},
        {"status": {"initContainerStatuses": [{"name": "other", "state": {"terminated": {"exitCode": 1}}}]}},
        _pod(state={"running": {}}),
        _pod(state={"waiting": {"reason": "PodInitializing"}}),
        _pod(state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
        _pod(
            state={"running": {}},
            lastState={"terminated": {"exitCode": 1, "message": "NetworkTimeout: earlier attempt"}},
        ),
    ],
)
def test_no_failure_while_the_fetch_runs_succeeded_or_retries(pod: dict[str, Any]) -> None:
    assert corpus_failure_from_pod(pod) is None
