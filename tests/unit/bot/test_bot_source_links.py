"""Source links: the file at the served commit, for each host's URL forms; never credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot_server.source_links import CORPUS_SOURCE_FILE, CorpusSource, file_url, read_corpus_source

SHA = "0123456789abcdef0123456789abcdef01234567"
PATH = "docs/guides/setup.md"


@pytest.mark.parametrize(
    "repo",
    [
        "https://github.com/example/docs",
        "https://github.com/example/docs.git",
        "https://github.com/example/docs/",
        "http://github.com/example/docs.git",
        "git@github.com:example/docs.git",
        "ssh://git@github.com/example/docs.git",
        "ssh://git@github.com:22/example/docs",
        "git://github.com/example/docs.git",
        "https://GitHub.com/example/docs.git",
    ],
)
def test_github_forms_link_to_the_blob_at_the_commit(repo: str) -> None:
    assert file_url(repo, SHA, PATH) == f"https://github.com/example/docs/blob/{SHA}/{PATH}"


@pytest.mark.parametrize(
    "repo",
    [
        "https://gitlab.com/acme/platform/docs.git",
        "git@gitlab.com:acme/platform/docs.git",
        "ssh://git@gitlab.com/acme/platform/docs",
    ],
)
def test_gitlab_forms_keep_subgroups(repo: str) -> None:
    assert file_url(repo, SHA, PATH) == f"https://gitlab.com/acme/platform/docs/-/blob/{SHA}/{PATH}"


@pytest.mark.parametrize(
    "repo",
    [
        "https://bitbucket.org/acme/docs.git",
        "git@bitbucket.org:acme/docs.git",
        "https://jo@bitbucket.org/acme/docs",
    ],
)
def test_bitbucket_forms_link_to_src_at_the_commit(repo: str) -> None:
    assert file_url(repo, SHA, PATH) == f"https://bitbucket.org/acme/docs/src/{SHA}/{PATH}"


@pytest.mark.parametrize(
    ("repo", "page"),
    [
        (
            "https://dev.azure.com/acme/Web%20Site/_git/docs",
            "https://dev.azure.com/acme/Web%20Site/_git/docs",
        ),
        (
            "https://acme@dev.azure.com/acme/Web%20Site/_git/docs",
            "https://dev.azure.com/acme/Web%20Site/_git/docs",
        ),
        ("git@ssh.dev.azure.com:v3/acme/Web%20Site/docs", "https://dev.azure.com/acme/Web%20Site/_git/docs"),
        ("https://acme.visualstudio.com/Site/_git/docs", "https://acme.visualstudio.com/Site/_git/docs"),
        (
            "https://acme.visualstudio.com/DefaultCollection/Site/_git/docs",
            "https://acme.visualstudio.com/Site/_git/docs",
        ),
        ("acme@vs-ssh.visualstudio.com:v3/acme/Site/docs", "https://acme.visualstudio.com/Site/_git/docs"),
    ],
)
def test_azure_devops_forms_link_by_path_and_commit_version(repo: str, page: str) -> None:
    assert file_url(repo, SHA, PATH) == f"{page}?path=/{PATH}&version=GC{SHA}"


@pytest.mark.parametrize(
    "repo",
    [
        "https://x-access-token:ghp_secret123@github.com/example/docs.git",
        "https://ghp_secret123@github.com/example/docs.git",
        "https://oauth2:glpat-secret123@gitlab.com/example/docs.git",
    ],
)
def test_credentials_in_the_repository_url_never_reach_the_link(repo: str) -> None:
    url = file_url(repo, SHA, PATH)
    assert url is not None
    assert "secret123" not in url
    assert "@" not in url


@pytest.mark.parametrize(
    "repo",
    [
        "https://git.example.com/docs.git",  # unknown host: plain text on the page
        "git@git.internal:docs.git",
        "https://github.com/example",  # not a repository
        "https://github.com/example/docs/tree/main",
        "file:///srv/git/docs.git",
        "/srv/git/docs.git",
        "not a url",
    ],
)
def test_unknown_hosts_and_malformed_urls_get_no_link(repo: str) -> None:
    assert file_url(repo, SHA, PATH) is None


def test_paths_are_encoded_and_the_commit_must_be_a_full_sha() -> None:
    url = file_url("https://github.com/example/docs", SHA.upper(), "guides/setup & run #1.md")
    assert url == f"https://github.com/example/docs/blob/{SHA}/guides/setup%20%26%20run%20%231.md"
    assert file_url("https://github.com/example/docs", SHA[:7], PATH) is None
    assert file_url("https://github.com/example/docs", "main", PATH) is None


def test_sha256_commits_are_accepted() -> None:
    sha256 = "ab" * 32
    assert (
        file_url("https://gitlab.com/a/b", sha256, "x.md") == f"https://gitlab.com/a/b/-/blob/{sha256}/x.md"
    )


def test_the_corpus_source_is_read_from_the_record_beside_the_corpus(tmp_path: Path) -> None:
    assert read_corpus_source(tmp_path) is None  # a corpus from a folder: no links
    source = CorpusSource("git@github.com:example/docs.git", SHA)
    (tmp_path / CORPUS_SOURCE_FILE).write_text(source.to_json())
    assert read_corpus_source(tmp_path) == source
    assert source.link("a.md") == f"https://github.com/example/docs/blob/{SHA}/a.md"


def test_an_unreadable_record_means_no_links_not_a_failed_start(tmp_path: Path) -> None:
    (tmp_path / CORPUS_SOURCE_FILE).write_text("{not json")
    assert read_corpus_source(tmp_path) is None
    (tmp_path / CORPUS_SOURCE_FILE).write_text('{"repo": 1}')
    assert read_corpus_source(tmp_path) is None
