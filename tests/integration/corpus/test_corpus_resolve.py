"""Resolving spec.corpus.ref to a commit against real git servers on loopback."""

import shutil
from collections.abc import Callable

import pytest
from tests.support.gitserver import GitServer, free_port, silent_server

from chatbot_operator.corpus import (
    AUTHENTICATION_FAILED,
    NETWORK_TIMEOUT,
    REF_NOT_FOUND,
    REPOSITORY_NOT_FOUND,
    REPOSITORY_UNREACHABLE,
    CorpusError,
    GitCredentials,
    resolve_corpus_commit,
)

pytestmark = pytest.mark.integration
UrlOf = Callable[[str], str]
DOCS = {"docs/intro.md": "# Intro\n", "README.md": "readme\n"}


@pytest.fixture(params=["git", "http"])
def url_of(request: pytest.FixtureRequest, git_server: GitServer) -> UrlOf:
    """Each test runs against git daemon (git://) and git http-backend (http://)."""
    return git_server.git_url if request.param == "git" else git_server.http_url


def test_branch_resolves_to_its_commit(git_server: GitServer, repo_name: str, url_of: UrlOf) -> None:
    commit = git_server.create_repo(repo_name, DOCS)
    assert resolve_corpus_commit(url_of(repo_name), "main", None) == commit


def test_moved_branch_resolves_to_the_new_commit_and_unchanged_to_the_same(
    git_server: GitServer,
    repo_name: str,
    url_of: UrlOf,
) -> None:
    first = git_server.create_repo(repo_name, DOCS)
    url = url_of(repo_name)
    assert resolve_corpus_commit(url, "main", None) == first
    assert resolve_corpus_commit(url, "main", None) == first  # unchanged: same commit, nothing rolls
    second = git_server.commit(repo_name, {"docs/intro.md": "# Intro, revised\n"})
    assert second != first
    assert resolve_corpus_commit(url, "main", None) == second


def test_tags_and_full_ref_names_resolve_to_commits(git_server: GitServer, repo_name: str) -> None:
    first = git_server.create_repo(repo_name, DOCS)
    git_server.tag(repo_name, "v1", annotated=True)
    git_server.tag(repo_name, "light", annotated=False)
    git_server.commit(repo_name, {"docs/later.md": "later\n"})
    url = git_server.git_url(repo_name)
    assert resolve_corpus_commit(url, "v1", None) == first  # the commit, not the tag object
    assert resolve_corpus_commit(url, "light", None) == first
    assert resolve_corpus_commit(url, "refs/tags/v1", None) == first


def test_branch_wins_over_a_tag_of_the_same_name(git_server: GitServer, repo_name: str) -> None:
    first = git_server.create_repo(repo_name, DOCS)
    git_server.tag(repo_name, "release", annotated=False)
    second = git_server.commit(repo_name, {"docs/a.md": "a\n"}, branch="release")
    assert second != first
    assert resolve_corpus_commit(git_server.git_url(repo_name), "release", None) == second


def test_pinned_sha_is_never_re_resolved(git_server: GitServer, repo_name: str) -> None:
    first = git_server.create_repo(repo_name, DOCS)
    git_server.commit(repo_name, {"docs/intro.md": "moved on\n"})
    git_server.delete_repo(repo_name)  # not even asked
    assert resolve_corpus_commit(git_server.git_url(repo_name), first, None) == first


def test_missing_repository_is_repository_not_found(git_server: GitServer, url_of: UrlOf) -> None:
    with pytest.raises(CorpusError) as caught:
        resolve_corpus_commit(url_of("no-such-repo"), "main", None)
    assert caught.value.reason == REPOSITORY_NOT_FOUND
    assert "spec.corpus.repo" in caught.value.message


def test_missing_ref_is_ref_not_found(git_server: GitServer, repo_name: str, url_of: UrlOf) -> None:
    git_server.create_repo(repo_name, DOCS)
    with pytest.raises(CorpusError) as caught:
        resolve_corpus_commit(url_of(repo_name), "no-such-branch", None)
    assert caught.value.reason == REF_NOT_FOUND
    assert "'no-such-branch'" in caught.value.message


def test_private_repository_resolves_with_its_token(git_server: GitServer, repo_name: str) -> None:
    commit = git_server.create_repo(repo_name, DOCS, private_token="s3cret-token")
    credentials = GitCredentials.from_secret_data({"username": "docs-bot", "token": "s3cret-token"})
    assert resolve_corpus_commit(git_server.http_url(repo_name), "main", credentials) == commit


def test_private_repository_without_credentials_is_authentication_failed(
    git_server: GitServer, repo_name: str
) -> None:
    git_server.create_repo(repo_name, DOCS, private_token="s3cret-token")
    with pytest.raises(CorpusError) as caught:
        resolve_corpus_commit(git_server.http_url(repo_name), "main", None)
    assert caught.value.reason == AUTHENTICATION_FAILED
    assert "spec.corpus.credentialsSecretRef" in caught.value.message


def test_wrong_token_is_authentication_failed_and_never_shown(git_server: GitServer, repo_name: str) -> None:
    git_server.create_repo(repo_name, DOCS, private_token="s3cret-token")
    credentials = GitCredentials(token="wrong-token-value")
    with pytest.raises(CorpusError) as caught:
        resolve_corpus_commit(git_server.http_url(repo_name), "main", credentials)
    assert caught.value.reason == AUTHENTICATION_FAILED
    assert "refused the credentials" in caught.value.message
    assert "wrong-token-value" not in str(caught.value)


def test_server_that_never_answers_is_network_timeout() -> None:
    with silent_server() as server:
        for url in (f"git://127.0.0.1:{server.port}/docs.git", f"http://127.0.0.1:{server.port}/docs.git"):
            with pytest.raises(CorpusError) as caught:
                resolve_corpus_commit(url, "main", None, timeout=1.5)
            assert caught.value.reason == NETWORK_TIMEOUT
            assert "1.5s" in caught.value.message


def test_closed_port_is_repository_unreachable() -> None:
    with pytest.raises(CorpusError) as caught:
        resolve_corpus_commit(f"http://127.0.0.1:{free_port()}/docs.git", "main", None, timeout=5)
    assert caught.value.reason == REPOSITORY_UNREACHABLE


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")
def test_ssh_to_a_closed_port_is_repository_unreachable() -> None:
    credentials = GitCredentials.from_secret_data(
        {"ssh-privatekey": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"}
    )
    with pytest.raises(CorpusError) as caught:
        resolve_corpus_commit(f"ssh://git@127.0.0.1:{free_port()}/docs.git", "main", credentials, timeout=5)
    assert caught.value.reason == REPOSITORY_UNREACHABLE
    assert "OPENSSH" not in str(caught.value)
