"""The golden-questions init container in the bot image, run as the Deployment runs it: after the
corpus fetch, on the same volume, read-only root filesystem, the image's user; it passes a bot that
answers acceptably and fails one that does not, with the termination message the operator reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatbot_operator import builders, golden
from chatbot_operator.bot_settings import render_bot_settings, serialize_settings
from tests.containers.pod import PodContainer, file_volume, shared_empty_dir
from tests.support.gitserver import GitServer, running_git_server

CORPUS_FILES = {"docs/lighthouse.md": "# The lighthouse\n\nThe keeper winds the clockwork lamp at seven.\n"}
OWNER = builders.Owner(name="docs", namespace="default", uid="00000000-0000-0000-0000-000000000002")
TIMEOUT = 120.0
FAQ = [{"question": "When is the lamp wound?", "answer": "Every evening at seven."}]


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with running_git_server(tmp_path_factory.mktemp("git")) as server:
        server.create_repo("docs", CORPUS_FILES)
        yield server


def run_pod_init(
    workdir: Path, image: str, repo: str, commit: str, golden_questions: list[dict[str, Any]]
) -> tuple[int, PodContainer]:
    """Run the pod's two init containers in order; the golden one's exit code, and the container."""
    workdir.mkdir(parents=True)
    spec = {
        "systemPrompt": "You answer from the docs.",
        "faq": FAQ,
        "corpus": {"repo": repo, "ref": "main"},
        "goldenQuestions": golden_questions,
    }
    deployment = builders.build_deployment(
        OWNER, spec, image=image, settings_hash="golden-test", corpus_commit=commit, llm_key=None
    )
    pod = deployment["spec"]["template"]["spec"]
    config_map = builders.build_config_map(
        OWNER, serialize_settings(render_bot_settings(OWNER.name, spec, spec["systemPrompt"]))
    )
    host_dirs = {
        builders.CORPUS_VOLUME: shared_empty_dir(workdir / "corpus"),
        builders.CONFIG_VOLUME: file_volume(workdir / "config", config_map["data"]),
    }
    fetch_spec, golden_spec = pod["initContainers"]
    assert golden_spec["name"] == golden.INIT_CONTAINER
    fetch = PodContainer(fetch_spec, pod, host_dirs)
    check = PodContainer(golden_spec, pod, host_dirs)
    try:
        assert fetch.run(workdir, timeout=TIMEOUT) == 0, fetch.logs()
    finally:
        fetch.remove()
    return check.run(workdir, timeout=TIMEOUT), check


def test_the_golden_questions_pass_in_the_image_and_fail_with_the_operators_message(
    bot_image: str, git_server: GitServer, tmp_path: Path
) -> None:
    repo, commit = git_server.http_url("docs"), git_server.commit("docs", {}, message="Pinned")
    passing = [
        {"question": "When is the lamp wound?", "expect": {"faqAnswer": True}},
        {"question": "Who winds the clockwork lamp?", "expect": {"source": "docs/lighthouse.md"}},
    ]
    exit_code, check = run_pod_init(tmp_path / "pass", bot_image, repo, commit, passing)
    try:
        assert exit_code == 0, check.logs()
    finally:
        check.remove()

    failing = [{"question": "When is the lamp wound?", "expect": {"contains": ["at dawn"]}}]
    exit_code, check = run_pod_init(tmp_path / "fail", bot_image, repo, commit, failing)
    try:
        assert exit_code == 1, check.logs()
        assert check.termination_log is not None
        message = check.termination_log.read_text()
    finally:
        check.remove()
    assert message == (
        "GoldenQuestionsFailed: golden question 'When is the lamp wound?' expected the text 'at dawn'; "
        "the answer was 'Every evening at seven.'"
    )
    # What the operator makes of it, from the pod's init container status.
    pod = {"status": {"initContainerStatuses": [{"name": golden.INIT_CONTAINER,
           "state": {"terminated": {"exitCode": 1, "message": message}}}]}}  # fmt: skip
    failure = golden.golden_failure_from_pod(pod)
    assert failure is not None
    assert failure.reason == "GoldenQuestionsFailed"
