"""A real git server on loopback for the corpus tests, one repository per test."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from tests.support.gitserver import GitServer, running_git_server

_names = itertools.count()


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with running_git_server(tmp_path_factory.mktemp("gitserver")) as server:
        yield server


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repository name of this test's own, so tests never share a repository."""
    return re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40] + f"-{next(_names)}"
