"""Fixtures of the container tier: the built images, run by the private engine of hack/engine.sh.

`make test-containers` runs this tier through `hack/images.sh test`: it builds both images in the
engine of hack/engine.sh, points DOCKER_HOST at that engine and `docker` at Debian's CLI, and sets
CHATBOT_BOT_IMAGE and CHATBOT_OPERATOR_IMAGE to the IDs of the images it just built (another
checkout sharing the engine may move the `:dev` tags meanwhile).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers.pod import LABEL, docker

# The operator image is run against the e2e tier's control plane (hack/cluster.sh in a private
# CLUSTER_DIR), with the chart installed by helm: the same fixtures, and the report hook they use.
from tests.e2e.conftest import (  # noqa: F401
    cluster,
    control_plane_logs_on_failure,
    corpus_repo,
    namespace,
    operator_release,
    pytest_runtest_makereport,
)

CONTAINERS_DIR = Path(__file__).parent
BOT_IMAGE = os.environ.get("CHATBOT_BOT_IMAGE", "chatbot-bot:dev")
OPERATOR_IMAGE = os.environ.get("CHATBOT_OPERATOR_IMAGE", "chatbot-operator:dev")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(CONTAINERS_DIR):
            item.add_marker(pytest.mark.containers)


@pytest.fixture(scope="session")
def engine() -> Iterator[None]:
    if not os.environ.get("DOCKER_HOST"):
        pytest.fail(
            "no Docker engine: run `make test-containers`, "
            "or `hack/images.sh test .venv/bin/pytest tests/containers`"
        )
    try:
        docker("version", "--format", "{{.Server.Version}}", timeout=20)
    except (AssertionError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"the engine at {os.environ['DOCKER_HOST']} does not answer: {error}")
    yield
    leftovers = docker("ps", "--all", "--quiet", "--filter", f"label={LABEL}").stdout.split()
    if leftovers:
        docker("rm", "--force", *leftovers, check=False)


def _require_image(name: str) -> str:
    if docker("image", "inspect", name, check=False).returncode != 0:
        pytest.fail(f"no image {name}: build it with `make images` (hack/images.sh build)")
    return name


@pytest.fixture(scope="session")
def bot_image(engine: None) -> str:
    return _require_image(BOT_IMAGE)


@pytest.fixture(scope="session")
def operator_image(engine: None) -> str:
    return _require_image(OPERATOR_IMAGE)
