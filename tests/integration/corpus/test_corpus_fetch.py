"""The init container's fetch, run from the manifest the operator builds, against real git servers."""

import json
import random
from pathlib import Path
from typing import Any

import pytest
from tests.integration.corpus.initcontainer import InitContainerRun, files_under, run_init_container
from tests.support.gitserver import GitServer, Symlink, silent_server

from chatbot_operator.builders import build_corpus_init_container, build_corpus_volumes
from chatbot_operator.corpus import (
    AUTHENTICATION_FAILED,
    CORPUS_TOO_LARGE,
    NETWORK_TIMEOUT,
    REF_NOT_FOUND,
    REPOSITORY_NOT_FOUND,
    CorpusError,
    GitCredentials,
    corpus_failure_from_pod,
    resolve_corpus_commit,
)
from chatbot_server.source_links import CORPUS_SOURCE_FILE

pytestmark = pytest.mark.integration
MIB = 1024 * 1024
TOKEN = "tok-5f1e2d3c4b5a69788796a5b4"
DOCS: dict[str, str | bytes] = {
    "docs/intro.md": "# Intro\nWelcome.\n",
    "docs/guides/setup.md": "# Setup\nRun it.\n",
    "docs/guides/diagram.png": b"\x89PNG fake",
    "src/app.py": "print('not documentation')\n",
    "README.md": "# Readme\n",
}


def _container(
    repo: str,
    commit: str,
    *,
    paths: list[str] | None = None,
    max_size_bytes: int = 10 * MIB,
    secret: str | None = None,
    timeout: int = 60,
) -> dict[str, Any]:
    container = build_corpus_init_container(
        image="chatbot-bot:test",
        repo=repo,
        commit=commit,
        paths=paths if paths is not None else ["docs/**/*.md", "README.md"],
        max_size_bytes=max_size_bytes,
        credentials_secret_name=secret,
        fetch_timeout_seconds=timeout,
    )
    # The pod declares a volume for every mount: the shared corpus emptyDir and ours.
    declared = {volume["name"] for volume in build_corpus_volumes(secret)} | {"corpus"}
    assert {mount["name"] for mount in container["volumeMounts"]} <= declared
    return container


def _failed_pod(run: InitContainerRun) -> dict[str, Any]:
    """The pod status the kubelet reports for this run of the init container."""
    terminated = {"exitCode": run.returncode, "reason": "Error", "message": run.termination_message}
    return {"status": {"initContainerStatuses": [{"name": "corpus", "state": {"terminated": terminated}}]}}


def _assert_failed_with(run: InitContainerRun, reason: str) -> CorpusError:
    assert run.returncode == 1, run.stderr
    assert run.termination_message is not None
    assert run.termination_message.startswith(f"{reason}: ")
    error = corpus_failure_from_pod(_failed_pod(run))
    assert error is not None
    assert error.reason == reason
    assert files_under(run.corpus_dir) == {}  # nothing half-fetched for the bot to index
    return error


@pytest.mark.parametrize("scheme", ["git", "http"])
def test_fetch_writes_only_the_configured_paths_of_the_commit(
    git_server: GitServer, repo_name: str, tmp_path: Path, scheme: str
) -> None:
    git_server.create_repo(repo_name, DOCS)
    url = git_server.git_url(repo_name) if scheme == "git" else git_server.http_url(repo_name)
    commit = resolve_corpus_commit(url, "main", None)
    run = run_init_container(_container(url, commit), tmp_path)
    assert run.returncode == 0, run.stderr
    assert _corpus_files(run) == {
        "README.md": "# Readme\n",
        "docs/intro.md": "# Intro\nWelcome.\n",
        "docs/guides/setup.md": "# Setup\nRun it.\n",
    }
    assert run.termination_message in (None, "")
    assert "3 files" in run.stdout


def test_empty_paths_fetch_the_whole_tree_without_git_metadata(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    commit = git_server.create_repo(repo_name, DOCS)
    run = run_init_container(_container(git_server.git_url(repo_name), commit, paths=[]), tmp_path)
    assert run.returncode == 0, run.stderr
    assert set(_corpus_files(run)) == set(DOCS)
    assert not (run.corpus_dir / ".git").exists()


def test_fetch_takes_the_pinned_commit_not_the_branch_tip(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    first = git_server.create_repo(repo_name, DOCS)
    git_server.commit(repo_name, {"docs/intro.md": "# Intro v2\n", "docs/new.md": "new\n"})
    run = run_init_container(_container(git_server.git_url(repo_name), first), tmp_path)
    assert run.returncode == 0, run.stderr
    assert _corpus_files(run)["docs/intro.md"] == "# Intro\nWelcome.\n"
    assert "docs/new.md" not in _corpus_files(run)


def test_moved_branch_fetches_the_new_commit_into_a_clean_volume(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    git_server.create_repo(repo_name, DOCS)
    url = git_server.http_url(repo_name)
    first = resolve_corpus_commit(url, "main", None)
    assert run_init_container(_container(url, first), tmp_path).returncode == 0
    git_server.commit(repo_name, {"docs/intro.md": None, "docs/moved.md": "moved\n"})
    second = resolve_corpus_commit(url, "main", None)
    assert second != first
    # The same volume, as when the init container runs again in a restarted pod.
    run = run_init_container(_container(url, second), tmp_path)
    assert run.returncode == 0, run.stderr
    assert set(_corpus_files(run)) == {"README.md", "docs/moved.md", "docs/guides/setup.md"}
    assert _source_record(run) == {"repo": url, "commit": second}


def test_fetch_records_the_repository_and_commit_for_source_links_without_user_info(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    commit = git_server.create_repo(repo_name, DOCS)
    # A user name in an https URL is often a token: it must not reach the bot's links.
    url = git_server.http_url(repo_name).replace("http://", f"http://{TOKEN}@")
    run = run_init_container(_container(url, commit), tmp_path)
    assert run.returncode == 0, run.stderr
    record = _source_record(run)
    redacted = git_server.http_url(repo_name).replace("http://", "http://***@")
    assert record == {"repo": redacted, "commit": commit}
    assert TOKEN not in json.dumps(record)


def _corpus_files(run: InitContainerRun) -> dict[str, str]:
    """The fetched files, less the record of where they came from (checked by its own tests)."""
    files = files_under(run.corpus_dir)
    files.pop(CORPUS_SOURCE_FILE, None)
    return files


def _source_record(run: InitContainerRun) -> Any:
    return json.loads((run.corpus_dir / CORPUS_SOURCE_FILE).read_text())


def test_only_the_blobs_of_the_configured_paths_are_downloaded(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    noise = random.Random(5)
    big = {f"assets/blob-{i}.bin": noise.randbytes(MIB) for i in range(3)}
    commit = git_server.create_repo(repo_name, {**DOCS, **big})
    url = git_server.http_url(repo_name)
    # 3 MiB of incompressible assets outside the paths would not fit in a 2 MiB download limit.
    run = run_init_container(_container(url, commit, max_size_bytes=2 * MIB), tmp_path / "filtered")
    assert run.returncode == 0, run.stderr
    assert "assets/blob-0.bin" not in _corpus_files(run)
    # The whole tree, assets included, does not fit: the limit above held because they stayed remote.
    run = run_init_container(_container(url, commit, paths=[], max_size_bytes=2 * MIB), tmp_path / "whole")
    assert "the download" in _assert_failed_with(run, CORPUS_TOO_LARGE).message


def test_private_repository_is_fetched_with_its_token_and_leaves_no_credentials(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    git_server.create_repo(repo_name, DOCS, private_token=TOKEN)
    url = git_server.http_url(repo_name)
    credentials = GitCredentials.from_secret_data({"username": "docs-bot", "token": TOKEN})
    commit = resolve_corpus_commit(url, "main", credentials)
    run = run_init_container(
        _container(url, commit, secret="docs-git"),
        tmp_path,
        secret_data={"username": "docs-bot", "token": TOKEN},
    )
    assert run.returncode == 0, run.stderr
    assert "docs/intro.md" in _corpus_files(run)
    assert TOKEN not in run.stdout + run.stderr
    for name, volume in run.volumes.items():
        if name == "corpus-credentials":
            continue  # the Secret itself
        for path in volume.rglob("*"):
            assert ".git" not in path.parts, path
            if path.is_file():
                assert TOKEN not in path.read_text(errors="replace"), path
    assert list(run.volumes["corpus-tmp"].iterdir()) == []


def test_private_repository_with_a_wrong_token_fails_with_authentication_failed(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    commit = git_server.create_repo(repo_name, DOCS, private_token=TOKEN)
    run = run_init_container(
        _container(git_server.http_url(repo_name), commit, secret="docs-git"),
        tmp_path,
        secret_data={"token": "not-the-token"},
    )
    error = _assert_failed_with(run, AUTHENTICATION_FAILED)
    assert "not-the-token" not in error.message + run.stdout + run.stderr


def test_private_repository_without_a_secret_fails_with_authentication_failed(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    commit = git_server.create_repo(repo_name, DOCS, private_token=TOKEN)
    run = run_init_container(_container(git_server.http_url(repo_name), commit), tmp_path)
    error = _assert_failed_with(run, AUTHENTICATION_FAILED)
    assert "spec.corpus.credentialsSecretRef" in error.message


def test_corpus_over_the_size_limit_fails_with_corpus_too_large(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    commit = git_server.create_repo(repo_name, {**DOCS, "docs/huge.md": "lorem ipsum " * 200_000})
    run = run_init_container(
        _container(git_server.git_url(repo_name), commit, max_size_bytes=1 * MIB), tmp_path
    )
    error = _assert_failed_with(run, CORPUS_TOO_LARGE)
    assert "spec.corpus.maxSizeMiB" in error.message
    assert "1.0 MiB" in error.message
    assert "the configured paths" in error.message  # compressed well, so the download fitted


def test_commit_missing_from_the_repository_fails_with_ref_not_found(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    git_server.create_repo(repo_name, DOCS)
    run = run_init_container(_container(git_server.git_url(repo_name), "1" * 40), tmp_path)
    _assert_failed_with(run, REF_NOT_FOUND)


def test_deleted_repository_fails_with_repository_not_found(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    commit = git_server.create_repo(repo_name, DOCS)
    git_server.delete_repo(repo_name)
    for scheme, url in (("git", git_server.git_url(repo_name)), ("http", git_server.http_url(repo_name))):
        run = run_init_container(_container(url, commit), tmp_path / scheme)
        _assert_failed_with(run, REPOSITORY_NOT_FOUND)


def test_server_that_never_answers_fails_with_network_timeout(tmp_path: Path) -> None:
    with silent_server() as server:
        container = _container(f"git://127.0.0.1:{server.port}/docs.git", "2" * 40, timeout=2)
        run = run_init_container(container, tmp_path)
    error = _assert_failed_with(run, NETWORK_TIMEOUT)
    assert "2s" in error.message


def test_symbolic_links_are_dropped_so_the_bot_reads_only_corpus_files(
    git_server: GitServer, repo_name: str, tmp_path: Path
) -> None:
    git_server.create_repo(repo_name, DOCS)
    commit = git_server.commit(
        repo_name, {"docs/passwd.md": Symlink("/etc/passwd"), "docs/alias.md": Symlink("intro.md")}
    )
    run = run_init_container(_container(git_server.git_url(repo_name), commit), tmp_path)
    assert run.returncode == 0, run.stderr
    assert set(_corpus_files(run)) == {"README.md", "docs/intro.md", "docs/guides/setup.md"}
