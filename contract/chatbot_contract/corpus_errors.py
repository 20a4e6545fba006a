"""Corpus failures: the reasons, the messages a user can act on, and git's stderr read as a reason.

Shared by the operator and the init container's fetch command (standard library only), so a
failure has the same reason and message wherever it is found. Imports nothing of corpus_git.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, Protocol

# Failure reasons (CamelCase, as in Kubernetes conditions and Events).
REPOSITORY_NOT_FOUND: Final = "RepositoryNotFound"
AUTHENTICATION_FAILED: Final = "AuthenticationFailed"
HOST_KEY_VERIFICATION_FAILED: Final = "HostKeyVerificationFailed"
REF_NOT_FOUND: Final = "RefNotFound"
NETWORK_TIMEOUT: Final = "NetworkTimeout"
REPOSITORY_UNREACHABLE: Final = "RepositoryUnreachable"
CORPUS_TOO_LARGE: Final = "CorpusTooLarge"
INVALID_REPOSITORY: Final = "InvalidRepository"
INVALID_CREDENTIALS: Final = "InvalidCredentials"
GIT_FAILED: Final = "GitFailed"

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


class Credentials(Protocol):
    """What a failure's message needs of the credentials in use (corpus_git.GitCredentials): whether
    there are any, and the values it must never show. A protocol, so this module imports nothing of
    corpus_git (which imports it)."""

    def secrets(self) -> list[str]: ...


class CorpusError(Exception):
    """A corpus failure a user can act on: `reason` is CamelCase, `message` never holds a secret."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CorpusError) and (self.reason, self.message) == (other.reason, other.message)

    def __hash__(self) -> int:
        return hash((self.reason, self.message))


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` without URL user info or any of `secrets`."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        for line in secret.strip().splitlines():
            if len(line.strip()) >= 4:
                text = text.replace(line.strip(), "***")
    return text


# (reason, lower-case fragments of git's or ssh's stderr). Order matters: the first match wins,
# and ssh prints its own cause before git's generic "Could not read from remote repository".
_FAILURE_PATTERNS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (INVALID_REPOSITORY, ("transport '", "unsupported protocol", "not a valid repository name")),
    (HOST_KEY_VERIFICATION_FAILED, ("host key verification failed", "no matching host key")),
    (NETWORK_TIMEOUT, ("timed out", "operation too slow", "timeout")),
    (
        REPOSITORY_UNREACHABLE,
        (
            "could not resolve host",
            "could not resolve hostname",
            "name or service not known",
            "temporary failure in name resolution",
            "couldn't connect",
            "failed to connect",
            "unable to connect",
            "connection refused",
            "network is unreachable",
            "no route to host",
            "connection reset",
            "ssl certificate problem",
            "server certificate verification failed",
        ),
    ),
    (
        REPOSITORY_NOT_FOUND,
        (
            "repository not found",
            "' not found",
            "does not appear to be a git repository",
            "access denied or repository not exported",
            "no such repository",
            "returned error: 404",
            "could not be found",
        ),
    ),
    (
        AUTHENTICATION_FAILED,
        (
            "authentication failed",
            "could not read username",
            "could not read password",
            "terminal prompts disabled",
            "permission denied",
            "returned error: 401",
            "returned error: 403",
            "invalid username or password",
            "invalid credentials",
            "access denied",
        ),
    ),
    (
        REF_NOT_FOUND,
        (
            "not our ref",
            "couldn't find remote ref",
            "no such remote ref",
            "unadvertised object",
            "reference is not a tree",
            "unable to read tree",
        ),
    ),
)


def git_detail(stderr: str, secrets: Sequence[str] = ()) -> str:
    """git's own words, reduced to the lines that say what went wrong, without secrets."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    useful = [
        line
        for line in lines
        if not line.lower().startswith(("hint:", "please make sure", "and the repository exists", "warning:"))
    ]
    return redact(" ".join(useful or lines)[-500:], secrets)


def classify_git_failure(
    stderr: str, *, repo: str, credentials: Credentials | None, timeout: float, what: str = "the ref"
) -> CorpusError:
    """The CorpusError that git's stderr describes, with a message that says what to do."""
    lowered = stderr.lower()
    reason = next(
        (reason for reason, fragments in _FAILURE_PATTERNS if any(f in lowered for f in fragments)),
        GIT_FAILED,
    )
    detail = git_detail(stderr, credentials.secrets() if credentials else [])
    return failure(reason, repo=repo, credentials=credentials, timeout=timeout, what=what, detail=detail)


def failure(
    reason: str,
    *,
    repo: str,
    credentials: Credentials | None,
    timeout: float = 0.0,
    what: str = "the ref",
    detail: str = "",
) -> CorpusError:
    """The message for `reason` about `repo`: what happened and what the user can do about it."""
    shown = redact(repo)
    if reason == REPOSITORY_NOT_FOUND:
        message = f"repository {shown} was not found: check spec.corpus.repo" + (
            "; the credentials in spec.corpus.credentialsSecretRef may also lack access to it"
            if credentials is not None
            else "; if it is private, name a Secret with a token or SSH key in "
            "spec.corpus.credentialsSecretRef"
        )
    elif reason == AUTHENTICATION_FAILED and credentials is not None:
        message = (
            f"{shown} refused the credentials from spec.corpus.credentialsSecretRef: check that the token "
            "or key is valid, not expired, and may read the repository"
        )
    elif reason == AUTHENTICATION_FAILED:
        message = (
            f"{shown} requires authentication: create a Secret with a `token` (HTTPS) or an "
            "`ssh-privatekey` and `known_hosts` (SSH) and name it in spec.corpus.credentialsSecretRef"
        )
    elif reason == HOST_KEY_VERIFICATION_FAILED:
        message = (
            f"the SSH host key of {shown} is not trusted: add the host's line (from `ssh-keyscan <host>`, "
            "checked against the provider's published fingerprints) to the `known_hosts` key of the "
            "credentials Secret"
        )
    elif reason == REF_NOT_FOUND:
        message = (
            f"{what} was not found in {shown}: check that spec.corpus.ref names an existing branch, tag "
            "or full 40-character commit SHA"
        )
    elif reason == NETWORK_TIMEOUT:
        message = (
            f"{shown} did not answer within {timeout:g}s: check that the cluster can reach the host "
            "(network policies, proxies, firewalls); the operator keeps retrying"
        )
    elif reason == REPOSITORY_UNREACHABLE:
        message = (
            f"could not connect to {shown} ({detail}): check the host name and port in spec.corpus.repo "
            "and that the cluster can reach it; the operator keeps retrying"
        )
    else:
        message = f"git failed for {shown}: {detail}"
    return CorpusError(reason, message)
