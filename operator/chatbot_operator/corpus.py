"""The corpus, operator side: resolve a ref to a commit, build the init container that fetches it,
decide when to look again, and read a failed fetch back from a pod.

Pure functions except `resolve_corpus_commit`, which runs `git ls-remote`. The git plumbing
(credentials, timeouts, failure reasons) is shared with the init container's fetch command in
`chatbot_server.corpus_git` and `chatbot_server.corpus_errors`; `CorpusError` and `GitCredentials`
are re-exported from there so
both sides name a failure the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from chatbot_server import contract
from chatbot_server.corpus_errors import (
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
from chatbot_server.corpus_git import (
    GitCredentials,
    GitTimeout,
    git_environment,
    run_git,
    validate_repo_url,
)

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
    "build_corpus_init_container",
    "build_corpus_volumes",
    "corpus_failure_from_pod",
    "corpus_refresh_due",
    "is_commit_sha",
    "parse_duration",
    "resolve_corpus_commit",
]

INIT_CONTAINER: Final = "corpus"
CORPUS_VOLUME: Final = "corpus"  # the emptyDir shared with the bot, declared by the Deployment builder
CREDENTIALS_VOLUME: Final = "corpus-credentials"
TMP_VOLUME: Final = "corpus-tmp"
FETCH_COMMAND: Final = ("python", "-m", "chatbot_server.corpus_fetch")
DEFAULT_FETCH_TIMEOUT_SECONDS: Final = 300
# A fetch that failed without saying why (killed, out of memory).
FETCH_FAILED: Final = "CorpusFetchFailed"

_COMMIT_SHA = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
_ABBREVIATED_SHA = re.compile(r"^[0-9a-fA-F]{7,39}$")
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_DURATION_UNITS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
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


def build_corpus_init_container(
    *,
    image: str,
    repo: str,
    commit: str,
    paths: Sequence[str],
    max_size_bytes: int,
    credentials_secret_name: str | None,
    fetch_timeout_seconds: int = DEFAULT_FETCH_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """The init container that fetches `commit` of `repo` into the `corpus` volume.

    It runs the bot image (which ships git) so each pod needs one image, and the fetch code is
    versioned with the bot that reads its output.
    """
    env = [
        {"name": contract.CORPUS_REPO_ENV, "value": repo},
        {"name": contract.CORPUS_COMMIT_ENV, "value": commit},
        {"name": contract.CORPUS_PATHS_ENV, "value": json.dumps(list(paths))},
        {"name": contract.CORPUS_DIR_ENV, "value": contract.CORPUS_DIR},
        {"name": contract.CORPUS_MAX_SIZE_ENV, "value": str(max_size_bytes)},
        {"name": contract.CORPUS_FETCH_TIMEOUT_ENV, "value": str(fetch_timeout_seconds)},
        {"name": contract.CORPUS_TERMINATION_LOG_ENV, "value": contract.TERMINATION_LOG},
        {"name": "TMPDIR", "value": contract.TMP_DIR},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": CORPUS_VOLUME, "mountPath": contract.CORPUS_DIR},
        {"name": TMP_VOLUME, "mountPath": contract.TMP_DIR},
    ]
    if credentials_secret_name:
        env.append({"name": contract.CORPUS_CREDENTIALS_DIR_ENV, "value": contract.CORPUS_CREDENTIALS_DIR})
        mounts.append(
            {"name": CREDENTIALS_VOLUME, "mountPath": contract.CORPUS_CREDENTIALS_DIR, "readOnly": True}
        )
    return {
        "name": INIT_CONTAINER,
        "image": image,
        "command": list(FETCH_COMMAND),
        "env": env,
        "volumeMounts": mounts,
        "terminationMessagePath": contract.TERMINATION_LOG,
        # If the command dies before writing its message, the tail of its log (which never holds
        # a secret) says why.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def build_corpus_volumes(credentials_secret_name: str | None) -> list[dict[str, Any]]:
    """The volumes the init container needs besides the shared `corpus` emptyDir."""
    volumes: list[dict[str, Any]] = [
        # In memory: a private SSH key copied here for ssh never reaches the node's disk.
        {"name": TMP_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
    ]
    if credentials_secret_name:
        volumes.append(
            {
                "name": CREDENTIALS_VOLUME,
                "secret": {"secretName": credentials_secret_name, "defaultMode": 0o400},
            }
        )
    return volumes


def parse_duration(text: str) -> timedelta:
    """`30s`, `10m`, `1h`, `1h30m` (units ms, s, m, h, d) as a timedelta; ValueError otherwise."""
    compact = text.strip()
    if not compact or _DURATION.sub("", compact):
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 1h or 1h30m")
    seconds = sum(int(amount) * _DURATION_UNITS[unit] for amount, unit in _DURATION.findall(compact))
    return timedelta(seconds=seconds)


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
    return now - last >= parse_duration(refresh_interval)


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
