"""The corpus, operator side: resolve a ref to a commit, decide when to look again, and read a
failed fetch back from a pod (the init container that fetches it is built in `builders`).

Pure functions except `resolve_corpus_commit`, which runs `git ls-remote`. The git plumbing
(credentials, timeouts, failure reasons) is shared with the init container's fetch command in
`chatbot_contract.corpus_git` and `chatbot_contract.corpus_errors`; `CorpusError` and `GitCredentials`
are re-exported from there so
both sides name a failure the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from chatbot_contract.corpus_errors import (
    AUTHENTICATION_FAILED,
    CORPUS_TOO_LARGE,
    GIT_FAILED,
    HOST_KEY_VERIFICATION_FAILED,
    INVALID_CREDENTIALS,
    INVALID_REPOSITORY,
    NETWORK_TIMEOUT,
    REF_NOT_FOUND,
    REPOSITORY_NOT_FOUND,
    REPOSITORY_UNREACHABLE,
    CorpusError,
    classify_git_failure,
    failure,
)
from chatbot_contract.corpus_git import (
    GitCredentials,
    GitTimeout,
    git_environment,
    run_git,
    validate_repo_url,
)
from chatbot_operator import spec_fields
from chatbot_operator.durations import parse_duration

__all__ = [
    "AUTHENTICATION_FAILED",
    "CORPUS_TOO_LARGE",
    "FETCH_FAILED",
    "GIT_FAILED",
    "HOST_KEY_VERIFICATION_FAILED",
    "INVALID_CREDENTIALS",
    "INVALID_REPOSITORY",
    "NETWORK_TIMEOUT",
    "REF_NOT_FOUND",
    "REPOSITORY_NOT_FOUND",
    "REPOSITORY_UNREACHABLE",
    "CorpusError",
    "GitCredentials",
    "corpus_due",
    "corpus_failure_from_pod",
    "corpus_refresh_due",
    "is_commit_sha",
    "resolve_corpus_commit",
]

# The init container that fetches the corpus (built by chatbot_operator.builders).
INIT_CONTAINER: Final = "corpus"
# A fetch that failed without saying why (killed, out of memory).
FETCH_FAILED: Final = "CorpusFetchFailed"

_COMMIT_SHA = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
_ABBREVIATED_SHA = re.compile(r"^[0-9a-fA-F]{7,39}$")
_TERMINATION_MESSAGE = re.compile(r"^(?P<reason>[A-Z][A-Za-z0-9]+): (?P<message>.+)$", re.DOTALL)


def is_commit_sha(ref: str) -> bool:
    """A full commit SHA (SHA-1 or SHA-256): pinned, never resolved over the network."""
    return bool(_COMMIT_SHA.match(ref))


def resolve_corpus_commit(
    repo: str, ref: str, credentials: GitCredentials | None, *, timeout: float = 20.0
) -> str:
    """The commit `ref` (branch, tag, `refs/...` or HEAD) points to in `repo`, by `git ls-remote`.

    A full SHA is returned as is, in lower case, without contacting the repository. Raises
    CorpusError with the reason a user can act on.
    """
    if is_commit_sha(ref):
        return ref.lower()
    validate_repo_url(repo)
    if _ABBREVIATED_SHA.match(ref):
        shown = f"ref {ref!r}"
        raise CorpusError(
            REF_NOT_FOUND,
            f"{shown} looks like an abbreviated commit SHA, which cannot be resolved remotely: put the "
            "full 40-character SHA in spec.corpus.ref",
        )
    candidates = _ref_candidates(ref)
    with git_environment(repo, credentials, timeout=timeout) as env:
        try:
            # ls-remote lists an annotated tag's peeled entry only when asked for it by name.
            patterns = [
                *candidates,
                *(f"{name}^{{}}" for name in candidates if name.startswith("refs/tags/")),
            ]
            result = run_git(["ls-remote", "--", repo, *patterns], env=env, timeout=timeout)
        except GitTimeout:
            raise failure(NETWORK_TIMEOUT, repo=repo, credentials=credentials, timeout=timeout) from None
    if result.returncode != 0:
        raise classify_git_failure(
            result.stderr, repo=repo, credentials=credentials, timeout=timeout, what=f"ref {ref!r}"
        )
    found = {}
    for line in result.stdout.splitlines():
        sha, _, name = line.partition("\t")
        found[name.strip()] = sha.strip()
    for candidate in candidates:
        # An annotated tag's peeled entry (`^{}`) names the commit; the tag object itself does not.
        commit = found.get(f"{candidate}^{{}}") or found.get(candidate)
        if commit is not None:
            return commit.lower()
    raise failure(REF_NOT_FOUND, repo=repo, credentials=credentials, what=f"ref {ref!r}")


def _ref_candidates(ref: str) -> list[str]:
    """Full ref names to look up, most likely first: a branch wins over a tag of the same name."""
    if ref == "HEAD" or ref.startswith("refs/"):
        return [ref]
    return [f"refs/heads/{ref}", f"refs/tags/{ref}"]


def corpus_due(corpus_spec: Mapping[str, Any], seen: Mapping[str, Any], now: datetime) -> bool:
    """Whether spec.corpus' ref must be resolved now, given what status.corpus (`seen`) says."""
    ref = spec_fields.corpus_ref(corpus_spec)
    if seen.get("repo") != corpus_spec["repo"] or seen.get("ref") != ref or not seen.get("commit"):
        return True
    if is_commit_sha(ref):
        return False  # a pinned commit never moves
    return corpus_refresh_due(
        seen.get("checkedAt"), corpus_spec.get("refreshInterval", spec_fields.CORPUS_REFRESH_INTERVAL), now
    )


def corpus_refresh_due(checked_at: str | None, refresh_interval: str, now: datetime) -> bool:
    """Whether the ref should be resolved again: never checked, unreadable, or an interval ago."""
    if not checked_at:
        return True
    try:
        last = datetime.fromisoformat(checked_at.replace("Z", "+00:00"))
    except ValueError:
        return True
    if (last.tzinfo is None) != (now.tzinfo is None):
        return True
    return now - last >= parse_duration(refresh_interval, "spec.corpus.refreshInterval")


def corpus_failure_from_pod(pod: Mapping[str, Any]) -> CorpusError | None:
    """The failure of the pod's `corpus` init container, read from its termination message.

    Looks at the current state, then at the last one (a failed init container is restarted and
    waits in CrashLoopBackOff, its failure kept in lastState). None if it has not failed.
    """
    statuses = pod.get("status", {}).get("initContainerStatuses") or []
    status = next((s for s in statuses if s.get("name") == INIT_CONTAINER), None)
    if status is None:
        return None
    state = status.get("state") or {}
    if "running" in state or ("terminated" in state and state["terminated"].get("exitCode") == 0):
        return None
    for candidate in (state, status.get("lastState") or {}):
        terminated = candidate.get("terminated")
        if terminated and terminated.get("exitCode", 0) != 0:
            return _termination_error(terminated)
    return None


def _termination_error(terminated: Mapping[str, Any]) -> CorpusError:
    text = (terminated.get("message") or "").strip()
    match = _TERMINATION_MESSAGE.match(text)
    if match:
        return CorpusError(match["reason"], match["message"].strip())
    exit_code = terminated.get("exitCode")
    cause = terminated.get("reason") or "Error"
    detail = f": {text[-300:]}" if text else ""
    return CorpusError(
        FETCH_FAILED,
        f"the corpus init container failed ({cause}, exit code {exit_code}){detail}; "
        "see `kubectl logs <pod> -c corpus`",
    )
