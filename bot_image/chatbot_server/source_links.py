"""Links from an answer's sources to the files at the exact commit the bot serves.

The corpus init container records where the corpus came from (`spec.corpus.repo` and the commit it
fetched) in a hidden file beside the corpus (`CORPUS_SOURCE_FILE`); the bot reads it once
at start-up. `file_url` turns that and a source's path into a browsable URL for the hosts whose URL
forms are known (GitHub, GitLab, Bitbucket, Azure DevOps); any other host gets no link, and the page
shows the path as plain text. User names, tokens and passwords in the repository URL never reach a
link: only the host and the repository path are used.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote, unquote, urlencode, urlsplit

log = logging.getLogger(__name__)

# Beside the corpus files, written by the init container (chatbot_server.corpus_fetch):
# {"repo": spec.corpus.repo, "commit": the commit fetched}. Hidden: never indexed.
CORPUS_SOURCE_FILE: Final = ".chatbot-corpus-source.json"

_COMMIT: Final = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# user@host:path, git's scp-like form (no scheme).
_SCP_LIKE: Final = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?P<path>[^\s]+)$")


@dataclass(frozen=True, slots=True)
class Repository:
    """A repository's host (lower case) and path segments, decoded (`owner/name`, `group/sub/name`)."""

    host: str
    path: tuple[str, ...]


def parse_repo_url(repo: str) -> Repository | None:
    """The host and repository path of a git URL (https, http, ssh, git or scp-like), or None."""
    text = repo.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
    else:
        match = _SCP_LIKE.match(text)
        if match is None:
            return None
        host, path = match["host"].lower(), match["path"]
    # Decoded here, encoded again when a link is built: "My%20Project" stays one space, not "%2520".
    segments = [unquote(segment) for segment in path.split("/") if segment]
    if segments and segments[-1].endswith(".git"):
        segments[-1] = segments[-1].removesuffix(".git")
    if not segments or any(segment in (".", "..") for segment in segments):
        return None
    return Repository(host.lower(), tuple(segments))


def file_url(repo: str, commit: str, path: str) -> str | None:
    """The web page of `path` at `commit` in `repo`, or None when the host's URL form is unknown."""
    commit = commit.lower()
    parsed = parse_repo_url(repo)
    relative = path.strip("/")
    if parsed is None or not _COMMIT.match(commit) or not relative:
        return None
    file_path = quote(relative, safe="/")
    host, segments = parsed.host, parsed.path
    if host == "github.com" and len(segments) == 2:
        return f"https://github.com/{_join(segments)}/blob/{commit}/{file_path}"
    if host == "gitlab.com" and len(segments) >= 2:  # groups nest: group/subgroup/project
        return f"https://gitlab.com/{_join(segments)}/-/blob/{commit}/{file_path}"
    if host == "bitbucket.org" and len(segments) == 2:
        return f"https://bitbucket.org/{_join(segments)}/src/{commit}/{file_path}"
    azure = _azure_repository(host, segments)
    if azure is not None:
        query = urlencode({"path": f"/{relative}", "version": f"GC{commit}"}, safe="/")
        return f"{azure}?{query}"
    return None


def _azure_repository(host: str, segments: tuple[str, ...]) -> str | None:
    """The web address of an Azure DevOps (or older visualstudio.com) repository, or None."""
    # https://dev.azure.com/{org}/{project}/_git/{repo}
    if host == "dev.azure.com" and len(segments) == 4 and segments[2] == "_git":
        org, project, _, name = segments
        return f"https://dev.azure.com/{_join((org, project))}/_git/{_join((name,))}"
    # git@ssh.dev.azure.com:v3/{org}/{project}/{repo}
    if host == "ssh.dev.azure.com" and len(segments) == 4 and segments[0] == "v3":
        _, org, project, name = segments
        return f"https://dev.azure.com/{_join((org, project))}/_git/{_join((name,))}"
    # https://{org}.visualstudio.com/[DefaultCollection/]{project}/_git/{repo}
    if host.endswith(".visualstudio.com") and host != "vs-ssh.visualstudio.com":
        rest = segments[1:] if segments and segments[0] == "DefaultCollection" else segments
        if len(rest) == 3 and rest[1] == "_git":
            return f"https://{host}/{_join((rest[0],))}/_git/{_join((rest[2],))}"
    # {org}@vs-ssh.visualstudio.com:v3/{org}/{project}/{repo}
    if host == "vs-ssh.visualstudio.com" and len(segments) == 4 and segments[0] == "v3":
        _, org, project, name = segments
        return f"https://{org.lower()}.visualstudio.com/{_join((project,))}/_git/{_join((name,))}"
    return None


def _join(segments: tuple[str, ...]) -> str:
    return "/".join(quote(segment, safe="") for segment in segments)


@dataclass(frozen=True, slots=True)
class CorpusSource:
    """Where the served corpus came from: the repository URL (no credentials) and the commit."""

    repo: str
    commit: str

    def link(self, path: str) -> str | None:
        return file_url(self.repo, self.commit, path)

    def to_json(self) -> str:
        return json.dumps({"repo": self.repo, "commit": self.commit})


def read_corpus_source(corpus_dir: Path) -> CorpusSource | None:
    """What the init container recorded beside the corpus; None for a corpus from elsewhere."""
    path = corpus_dir / CORPUS_SOURCE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("sources will have no links: cannot read %s: %s", path, error)
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(key), str) for key in ("repo", "commit")):
        log.warning("sources will have no links: %s does not hold a repo and a commit", path)
        return None
    return CorpusSource(data["repo"], data["commit"])
