"""Running the git CLI against a corpus repository: credentials, allowed URLs, time and size limits.

Shared by the operator (which resolves a ref to a commit with `git ls-remote`) and by the init
container's fetch command. Standard library only: the operator imports it without the bot's
dependencies. Failures and their reasons are in `chatbot_contract.corpus_errors`.

Credentials reach git only through the environment of one command (an `http.extraHeader`
scoped to the repository's host, or `GIT_SSH_COMMAND` naming a key file in a private temporary
directory removed afterwards); nothing is written into a repository's config, and no URL with
user info is ever echoed.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from chatbot_contract.corpus_errors import INVALID_CREDENTIALS, INVALID_REPOSITORY, CorpusError, redact

# Transports git may use: never file:// (the operator's or the pod's own disk) nor ext::
# (runs a command of the URL's choosing).
ALLOWED_PROTOCOLS: Final = "https:http:ssh:git"
DEFAULT_HTTPS_USERNAME: Final = "x-access-token"
# The keys read from the credentials Secret.
CREDENTIALS_SECRET_KEYS: Final = ("username", "password", "token", "ssh-privatekey", "known_hosts")

_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!//)[^\s]+$")
# Environment a git command inherits from ours; everything else (a developer's config, askpass
# helpers, another locale whose messages we could not classify) is left out.
_INHERITED_ENV: Final = (
    "PATH",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
)


@dataclass(frozen=True)
class GitCredentials:
    """Credentials for a private repository, from the Secret named by spec.corpus.credentialsSecretRef.

    HTTPS: keys `token` (or `password`) and optionally `username`. SSH: keys `ssh-privatekey` and
    `known_hosts`. The repr never shows a value.
    """

    username: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    ssh_private_key: str | None = field(default=None, repr=False)
    known_hosts: str | None = field(default=None, repr=False)

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str]) -> GitCredentials:
        """Credentials from a Secret's (already base64-decoded) data."""

        def value(key: str) -> str | None:
            text = data.get(key)
            return text if text and text.strip() else None

        credentials = cls(
            username=value("username"),
            token=value("token") or value("password"),
            ssh_private_key=value("ssh-privatekey"),
            known_hosts=value("known_hosts"),
        )
        if credentials.token is None and credentials.ssh_private_key is None:
            raise CorpusError(
                INVALID_CREDENTIALS,
                "the credentials Secret has neither a `token` (or `password`) key for HTTPS nor an "
                f"`ssh-privatekey` key for SSH (keys present: {', '.join(sorted(data)) or 'none'})",
            )
        return credentials

    @classmethod
    def from_directory(cls, directory: Path) -> GitCredentials:
        """Credentials from a mounted Secret volume (one file per key)."""
        data = {}
        for key in CREDENTIALS_SECRET_KEYS:
            path = directory / key
            if path.is_file():
                data[key] = path.read_text()
        return cls.from_secret_data(data)

    def __repr__(self) -> str:
        present = [
            name
            for name, value in (
                ("username", self.username),
                ("token", self.token),
                ("ssh_private_key", self.ssh_private_key),
                ("known_hosts", self.known_hosts),
            )
            if value
        ]
        return f"GitCredentials(<redacted: {', '.join(present) or 'empty'}>)"

    __str__ = __repr__

    def secrets(self) -> list[str]:
        """Values that must never appear in a message or a log."""
        return [value for value in (self.token, self.ssh_private_key) if value]


def is_ssh_url(repo: str) -> bool:
    return repo.startswith("ssh://") or ("://" not in repo and bool(_SCP_LIKE.match(repo)))


def validate_repo_url(repo: str) -> None:
    """Raises InvalidRepository for anything but an https, http, ssh, git or scp-like URL."""
    shown = redact(repo)
    if not repo or repo.startswith("-") or any(char.isspace() for char in repo):
        raise CorpusError(INVALID_REPOSITORY, f"spec.corpus.repo {shown!r} is not a git URL")
    if "://" in repo:
        parts = urlsplit(repo)
        if parts.scheme not in ALLOWED_PROTOCOLS.split(":") or not parts.hostname:
            raise CorpusError(
                INVALID_REPOSITORY,
                f"spec.corpus.repo {shown!r} is not supported: use an https://, ssh://, git:// or "
                "http:// URL, or the user@host:path form",
            )
        if parts.password is not None:
            raise CorpusError(
                INVALID_REPOSITORY,
                f"spec.corpus.repo {shown!r} carries a password: remove it from the URL and put the "
                "token in a Secret named by spec.corpus.credentialsSecretRef",
            )
    elif not _SCP_LIKE.match(repo):
        raise CorpusError(
            INVALID_REPOSITORY,
            f"spec.corpus.repo {shown!r} is not supported: use an https://, ssh://, git:// or http:// "
            "URL, or the user@host:path form",
        )


@contextlib.contextmanager
def git_environment(
    repo: str, credentials: GitCredentials | None, *, timeout: float
) -> Iterator[dict[str, str]]:
    """The environment for git commands against `repo`; temporary key files live only inside."""
    with tempfile.TemporaryDirectory(prefix="corpus-git-") as scratch:
        home = Path(scratch)
        env = {key: os.environ[key] for key in _INHERITED_ENV if key in os.environ}
        env.update(
            {
                "HOME": str(home),
                "LC_ALL": "C",  # English messages: failure reasons are read from them
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
                "GIT_PROTOCOL_FROM_USER": "0",
                # A stalled HTTP transfer fails with its own message before the overall timeout.
                "GIT_HTTP_LOW_SPEED_LIMIT": "1",
                "GIT_HTTP_LOW_SPEED_TIME": str(max(1, int(timeout))),
            }
        )
        env["GIT_SSH_COMMAND"] = _ssh_command(home, credentials, timeout)
        if is_ssh_url(repo):
            if credentials is not None and credentials.ssh_private_key is None:
                raise CorpusError(
                    INVALID_CREDENTIALS,
                    f"spec.corpus.repo {redact(repo)!r} is an SSH URL but the credentials Secret has no "
                    "`ssh-privatekey` key: add the key (and `known_hosts`), or use the https:// URL",
                )
        elif credentials is not None:
            if credentials.token is None:
                raise CorpusError(
                    INVALID_CREDENTIALS,
                    f"spec.corpus.repo {redact(repo)!r} is not an SSH URL but the credentials Secret has no "
                    "`token` (or `password`) key: add a token, or use the repository's SSH URL",
                )
            parts = urlsplit(repo)
            basic = f"{credentials.username or DEFAULT_HTTPS_USERNAME}:{credentials.token}"
            # Scoped to the repository's scheme and host: a redirect elsewhere never gets the token.
            scope = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/"
            env.update(
                {
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": f"http.{scope}.extraHeader",
                    "GIT_CONFIG_VALUE_0": "Authorization: Basic " + base64.b64encode(basic.encode()).decode(),
                }
            )
        yield env


def _ssh_command(home: Path, credentials: GitCredentials | None, timeout: float) -> str:
    known_hosts = home / "known_hosts"
    known_hosts.write_text(credentials.known_hosts if credentials and credentials.known_hosts else "")
    options = [
        "ssh",
        "-F",
        os.devnull,
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={max(1, int(timeout))}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
    ]
    if credentials is not None and credentials.ssh_private_key:
        key = home / "id"
        # OpenSSH rejects a key file readable by others, and one without a final newline.
        key.touch(mode=0o600)
        key.write_text(credentials.ssh_private_key.strip() + "\n")
        options += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
    return shlex.join(options)


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: str
    stderr: str


class GitTimeout(Exception):
    """A git command ran past its deadline and was killed."""


class GitTooLarge(Exception):
    """A watched directory outgrew its limit while git ran; git was killed."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def directory_size(path: Path, *, exclude: str | None = None) -> int:
    """Bytes in the regular files under `path` (skipping a top-level entry named `exclude`)."""
    total = 0
    for root, dirs, files in os.walk(path):
        if exclude is not None and Path(root) == path and exclude in dirs:
            dirs.remove(exclude)
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def run_git(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | None = None,
    watch: Path | None = None,
    max_bytes: int | None = None,
) -> GitResult:
    """Runs git; kills it and its helpers (a new process group) on timeout or when `watch` > max_bytes."""
    process = subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            stdout, stderr = process.communicate(timeout=0.2)
            return GitResult(process.returncode, stdout, stderr)
        except subprocess.TimeoutExpired:
            pass
        size = directory_size(watch) if watch is not None and max_bytes is not None else 0
        too_large = max_bytes is not None and size > max_bytes
        if too_large or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            if too_large:
                raise GitTooLarge(size)
            raise GitTimeout()
