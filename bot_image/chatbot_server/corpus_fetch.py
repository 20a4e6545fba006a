"""The corpus init container: fetch one pinned commit's configured paths into the shared volume.

    python -m chatbot_server.corpus_fetch

Settings come from the environment the operator renders (names in `chatbot_contract`).
The fetch is shallow (`--depth 1` of exactly that commit), partial where the server allows it
(`--filter=blob:none` with a sparse checkout of the configured paths, so only their blobs are
downloaded), bounded in size and time, and leaves only the corpus files in the destination: no
`.git`, no credentials. On failure it writes `<Reason>: <message>` to the termination log, which
Kubernetes copies into the init container's status for the operator to surface, and exits 1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import chatbot_contract as contract
from chatbot_contract import termination
from chatbot_contract.corpus_errors import (
    CORPUS_TOO_LARGE,
    GIT_FAILED,
    NETWORK_TIMEOUT,
    CorpusError,
    classify_git_failure,
    failure,
    redact,
)
from chatbot_contract.corpus_git import (
    GitCredentials,
    GitTimeout,
    GitTooLarge,
    directory_size,
    git_environment,
    run_git,
    validate_repo_url,
)
from chatbot_server.source_links import CORPUS_SOURCE_FILE

INVALID_SETTINGS: Final = "InvalidCorpusSettings"
DEFAULT_MAX_SIZE_BYTES: Final = 100 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS: Final = 300.0
_SCRATCH: Final = ".corpus-fetch"
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


@dataclass(frozen=True)
class FetchSettings:
    repo: str
    commit: str
    paths: tuple[str, ...]
    destination: Path
    max_size_bytes: int
    timeout: float
    credentials_dir: Path | None
    termination_log: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FetchSettings:
        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise CorpusError(INVALID_SETTINGS, f"environment variable {name} is not set")
            return value

        try:
            paths = json.loads(env.get(contract.CORPUS_PATHS_ENV) or "[]")
            max_size = int(env.get(contract.CORPUS_MAX_SIZE_ENV) or DEFAULT_MAX_SIZE_BYTES)
            timeout = float(env.get(contract.CORPUS_FETCH_TIMEOUT_ENV) or DEFAULT_TIMEOUT_SECONDS)
        except ValueError as error:
            raise CorpusError(INVALID_SETTINGS, f"malformed corpus setting: {error}") from None
        if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
            raise CorpusError(INVALID_SETTINGS, f"{contract.CORPUS_PATHS_ENV} must be a JSON list of strings")
        repo = required(contract.CORPUS_REPO_ENV)
        commit = required(contract.CORPUS_COMMIT_ENV).lower()
        if not _COMMIT.match(commit):
            raise CorpusError(INVALID_SETTINGS, f"{contract.CORPUS_COMMIT_ENV} is not a full commit SHA")
        credentials_dir = env.get(contract.CORPUS_CREDENTIALS_DIR_ENV, "").strip()
        return cls(
            repo=repo,
            commit=commit,
            paths=tuple(paths),
            destination=Path(env.get(contract.CORPUS_DIR_ENV) or contract.CORPUS_DIR),
            max_size_bytes=max_size,
            timeout=timeout,
            credentials_dir=Path(credentials_dir) if credentials_dir else None,
            termination_log=Path(env.get(contract.CORPUS_TERMINATION_LOG_ENV) or contract.TERMINATION_LOG),
        )


def sparse_patterns(paths: Sequence[str]) -> list[str]:
    """Sparse-checkout patterns (gitignore syntax, anchored at the repository root) for `paths`."""
    patterns = []
    for path in paths:
        relative = path.strip()
        while relative.startswith("./"):
            relative = relative[2:]
        relative = relative.lstrip("/")
        segments = relative.rstrip("/").split("/")
        if not relative or relative.startswith("!") or ".." in segments or "\n" in relative:
            raise CorpusError(
                INVALID_SETTINGS,
                f"spec.corpus.paths entry {path!r} is not a path or glob inside the repository",
            )
        patterns.append("/" + relative)
    return patterns


def fetch_corpus(settings: FetchSettings) -> int:
    """Fetches the corpus into settings.destination; returns the number of files. Raises CorpusError."""
    validate_repo_url(settings.repo)
    patterns = sparse_patterns(settings.paths)
    credentials = (
        GitCredentials.from_directory(settings.credentials_dir) if settings.credentials_dir else None
    )
    destination = settings.destination
    destination.mkdir(parents=True, exist_ok=True)
    # An init container runs again when its pod restarts, on the same volume: start clean.
    _empty_directory(destination)
    # The work tree lives on the destination's volume so that its files move in by rename.
    scratch = destination / _SCRATCH
    try:
        with git_environment(settings.repo, credentials, timeout=settings.timeout) as env:
            timeout = settings.timeout

            def git(*args: str, max_bytes: int | None = None, baseline: int = 0) -> None:
                try:
                    result = run_git(
                        args, env=env, timeout=timeout, cwd=scratch, watch=scratch, max_bytes=max_bytes
                    )
                except GitTimeout:
                    raise failure(
                        NETWORK_TIMEOUT, repo=settings.repo, credentials=credentials, timeout=timeout
                    ) from None
                except GitTooLarge as error:
                    # Past the baseline (what the fetch left), the growth is the checked-out files.
                    what = "the configured paths" if baseline else "the download"
                    raise _too_large(settings, error.size - baseline, what) from None
                if result.returncode != 0:
                    raise classify_git_failure(
                        result.stderr,
                        repo=settings.repo,
                        credentials=credentials,
                        timeout=timeout,
                        what=f"commit {settings.commit}",
                    )

            scratch.mkdir()
            git("init", "--quiet", "--template=")
            git("remote", "add", "origin", "--", settings.repo)
            fetch = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--depth=1"]
            if patterns:
                git("sparse-checkout", "set", "--no-cone", "--", *patterns)
                # Only the blobs of the configured paths are downloaded, by the checkout below.
                # A server without filter support sends every blob (and git says so on stderr).
                fetch.append("--filter=blob:none")
            # Neither the download nor the checked-out files may outgrow the limit; the volume
            # (sized twice the limit by the Deployment) holds both for a moment.
            git(*fetch, "origin", settings.commit, max_bytes=settings.max_size_bytes)
            downloaded = directory_size(scratch)
            if downloaded > settings.max_size_bytes:  # finished between two looks of the watch
                raise _too_large(settings, downloaded, "the download")
            git(
                "-c",
                "advice.detachedHead=false",
                "checkout",
                "--quiet",
                "--detach",
                settings.commit,
                max_bytes=downloaded + settings.max_size_bytes,
                baseline=downloaded,
            )
            _remove_symlinks(scratch)
            size = directory_size(scratch, exclude=".git")
            if size > settings.max_size_bytes:
                raise _too_large(settings, size, "the configured paths")
            shutil.rmtree(scratch / ".git")
            count = _move_contents(scratch, destination)
            _record_source(settings)
    except BaseException:
        _empty_directory(destination)  # nothing half-fetched for the bot to index
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return count


def _record_source(settings: FetchSettings) -> None:
    # Read by the bot to link sources to the files at this commit (chatbot_server.source_links); a
    # user name in the URL may be a token, so it is left out.
    source = {"repo": redact(settings.repo), "commit": settings.commit}
    (settings.destination / CORPUS_SOURCE_FILE).write_text(json.dumps(source), encoding="utf-8")


def _too_large(settings: FetchSettings, size: int, what: str) -> CorpusError:
    return CorpusError(
        CORPUS_TOO_LARGE,
        f"{what} at commit {settings.commit[:12]} of {redact(settings.repo)} exceeded the corpus size "
        f"limit ({_mib(size)} > {_mib(settings.max_size_bytes)} spec.corpus.maxSizeMiB): narrow "
        "spec.corpus.paths to the documents the bot needs, or raise spec.corpus.maxSizeMiB",
    )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _empty_directory(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _remove_symlinks(tree: Path) -> None:
    # A link could point the bot's indexer at files outside the corpus (or outside the pod's
    # volume): only regular files are served.
    for root, dirs, files in os.walk(tree):
        for name in [*files, *dirs]:
            path = Path(root, name)
            if path.is_symlink():
                path.unlink()


def _move_contents(source: Path, destination: Path) -> int:
    for entry in source.iterdir():
        entry.rename(destination / entry.name)
    return sum(len(files) for _, _, files in os.walk(destination))


def write_termination_message(path: Path, error: CorpusError) -> None:
    termination.write_termination_message(path, error.reason, error.message)


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    termination_log = Path(env.get(contract.CORPUS_TERMINATION_LOG_ENV) or contract.TERMINATION_LOG)
    try:
        settings = FetchSettings.from_env(env)
        print(
            f"corpus: fetching {redact(settings.repo)} at {settings.commit} "
            f"(paths: {', '.join(settings.paths) or 'all'}) into {settings.destination}",
            flush=True,
        )
        count = fetch_corpus(settings)
    except CorpusError as error:
        print(f"corpus: {error.reason}: {error.message}", file=sys.stderr, flush=True)
        write_termination_message(termination_log, error)
        return 1
    except Exception as error:  # an unforeseen failure still reaches the ChatBot's status
        unexpected = CorpusError(GIT_FAILED, f"the corpus fetch failed unexpectedly: {type(error).__name__}")
        print(f"corpus: {unexpected.message}: {redact(str(error))}", file=sys.stderr, flush=True)
        write_termination_message(termination_log, unexpected)
        return 1
    size = directory_size(settings.destination)
    print(f"corpus: {count} files, {_mib(size)} in {settings.destination}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
