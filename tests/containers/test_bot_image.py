"""The bot image, run as the operator's Deployment runs it: the corpus init container fetches a
repository from a git server into a volume, then the bot serves it; read-only root filesystem, the
image's numeric user, no capabilities, no privilege escalation, only /tmp writable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import chatbot_contract as contract
from chatbot_operator import builders, corpus
from chatbot_operator.bot_settings import render_bot_settings, serialize_settings
from chatbot_server.source_links import CORPUS_SOURCE_FILE
from tests.containers.pod import OUTSIDE_TMP, PodContainer, file_volume, shared_empty_dir, write_attempts
from tests.e2e.cluster import wait_until
from tests.support.fake_llm import FakeLLM
from tests.support.gitserver import GitServer, free_port, running_git_server

SYSTEM_PROMPT = "You answer from the passages you are given."
PASSAGE = "The lighthouse keeper winds the clockwork lamp every evening at seven."
CORPUS_FILES = {
    "docs/lighthouse.md": f"# The lighthouse\n\n{PASSAGE}\n",
    "docs/harbour.md": "# The harbour\n\nFishing boats leave the harbour before dawn.\n",
    "notes/excluded.md": "# Not in the corpus\n\nOutside the configured paths.\n",
}
LLM_KEY = "sk-container-test-key"
FETCH_TIMEOUT = 120.0
READY_TIMEOUT = 60.0
OWNER = builders.Owner(name="docs", namespace="default", uid="00000000-0000-0000-0000-000000000001")


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with running_git_server(tmp_path_factory.mktemp("git")) as server:
        server.create_repo("docs", CORPUS_FILES)
        yield server


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM(answer="The lamp is wound at seven.") as llm:
        yield llm


def chatbot_spec(repo: str, llm: FakeLLM) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "llm": {
            "provider": "openai-compatible",
            "baseURL": llm.base_url,
            "timeoutSeconds": 5,
            "maxRetries": 0,
            "apiKeySecretRef": {"name": "llm-key", "key": "apiKey"},
        },
        "corpus": {"repo": repo, "ref": "main", "paths": ["docs/**/*.md"]},
    }


class BotPod:
    """The Deployment's pod template, from the operator's builder, with host directories for its
    ConfigMap, Secret and the corpus emptyDir shared by the init container and the bot."""

    def __init__(self, workdir: Path, image: str, spec: dict[str, Any], commit: str) -> None:
        self.workdir = workdir
        self.commit = commit
        deployment = builders.build_deployment(
            OWNER,
            spec,
            image=image,
            settings_hash="container-test",
            corpus_commit=commit,
            llm_key=builders.SecretKeyRef(name="llm-key", key="apiKey"),
        )
        pod = deployment["spec"]["template"]["spec"]
        settings = serialize_settings(render_bot_settings(OWNER.name, spec, SYSTEM_PROMPT))
        config_map = builders.build_config_map(OWNER, settings)
        self.corpus_dir = shared_empty_dir(workdir / "corpus")
        host_dirs = {
            builders.CORPUS_VOLUME: self.corpus_dir,
            builders.CONFIG_VOLUME: file_volume(workdir / "config", config_map["data"]),
            builders.LLM_KEY_VOLUME: file_volume(
                workdir / "llm-key", {contract.LLM_API_KEY_FILE_NAME: LLM_KEY}
            ),
        }
        (init,) = pod["initContainers"]
        (bot,) = pod["containers"]
        self.port = free_port()
        self.fetch = PodContainer(init, pod, host_dirs)
        # The pod's own network namespace would give the bot port 8080 to itself; on the host's
        # network it takes a free one.
        self.bot = PodContainer(bot, pod, host_dirs, env_overrides={contract.PORT_ENV: str(self.port)})
        self.grace_seconds = int(pod["terminationGracePeriodSeconds"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run_fetch(self) -> int:
        return self.fetch.run(self.workdir, timeout=FETCH_TIMEOUT)

    def start_bot(self) -> None:
        self.bot.start(self.workdir)
        wait_until(f"the bot's {contract.READINESS_PATH}", self._ready, timeout=READY_TIMEOUT, interval=0.2)

    def _ready(self) -> bool:
        if self.bot.exited():
            raise AssertionError(f"the bot exited:\n{self.bot.logs()}")
        try:
            return httpx.get(f"{self.url}{contract.READINESS_PATH}", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def remove(self) -> None:
        self.fetch.remove()
        self.bot.remove()


@pytest.fixture(scope="module")
def served_pod(
    bot_image: str, git_server: GitServer, fake_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotPod]:
    commit = git_server.commit("docs", {}, message="Pinned by the test")
    pod = BotPod(
        tmp_path_factory.mktemp("bot-pod"),
        bot_image,
        chatbot_spec(git_server.http_url("docs"), fake_llm),
        commit,
    )
    try:
        exit_code = pod.run_fetch()
        assert exit_code == 0, f"the corpus fetch exited {exit_code}:\n{pod.fetch.logs()}"
        pod.start_bot()
        yield pod
    finally:
        pod.remove()


def test_the_init_container_fetches_the_configured_paths_of_the_commit_into_the_volume(
    served_pod: BotPod,
) -> None:
    fetched = sorted(
        str(path.relative_to(served_pod.corpus_dir))
        for path in served_pod.corpus_dir.rglob("*")
        if path.is_file()
    )
    # Beside the documents, the record of where they came from, which the bot's source links read.
    assert fetched == [CORPUS_SOURCE_FILE, "docs/harbour.md", "docs/lighthouse.md"]
    assert (served_pod.corpus_dir / "docs/lighthouse.md").read_text() == CORPUS_FILES["docs/lighthouse.md"]
    source = json.loads((served_pod.corpus_dir / CORPUS_SOURCE_FILE).read_text())
    assert source["commit"] == served_pod.commit


def test_the_bot_serves_its_chat_page_and_the_page_s_scripts_from_the_image(served_pod: BotPod) -> None:
    page = httpx.get(served_pod.url, timeout=10)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for script in ("vendor.js", "markdown.js", "feedback.js", "app.js"):
        assert f'src="/static/{script}"' in page.text
        response = httpx.get(f"{served_pod.url}/static/{script}", timeout=10)
        assert response.status_code == 200, script
    # marked and DOMPurify, as built from web/package-lock.json, are package data of the image.
    assert "ChatVendor" in httpx.get(f"{served_pod.url}/static/vendor.js", timeout=10).text


def test_the_bot_runs_as_the_images_numeric_user(served_pod: BotPod) -> None:
    assert served_pod.bot.exec("id", "-u").stdout.strip() == "10001"


def test_the_bot_answers_the_json_api_from_the_corpus_and_the_llm(
    served_pod: BotPod, fake_llm: FakeLLM
) -> None:
    response = httpx.post(
        f"{served_pod.url}/api/chat",
        json={"messages": [{"role": "user", "content": "When is the clockwork lamp wound?"}]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["answer"] == "The lamp is wound at seven."
    assert [source["path"] for source in answer["sources"]][:1] == ["docs/lighthouse.md"]
    # The passage from the fetched volume reached the model, with the key from the mounted Secret.
    assert PASSAGE in json.dumps(fake_llm.requests[-1])
    assert fake_llm.headers[-1].get("Authorization") == f"Bearer {LLM_KEY}"


def test_the_openai_sdk_gets_answers_streamed_and_not(served_pod: BotPod) -> None:
    client = openai.OpenAI(base_url=f"{served_pod.url}/v1", api_key="unused", max_retries=0, timeout=30)
    question = [{"role": "user", "content": "When is the clockwork lamp wound?"}]
    completion = client.chat.completions.create(model="docs", messages=question)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "The lamp is wound at seven."
    stream = client.chat.completions.create(model="docs", messages=question, stream=True)  # type: ignore[arg-type]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "The lamp is wound at seven."


def test_the_bot_serves_its_metrics(served_pod: BotPod) -> None:
    httpx.get(f"{served_pod.url}{contract.LIVENESS_PATH}", timeout=5)
    response = httpx.get(f"{served_pod.url}{contract.METRICS_PATH}", timeout=5)
    assert response.status_code == 200
    assert "chatbot_http_requests_total" in response.text


def test_nothing_outside_tmp_is_writable_in_the_bot(served_pod: BotPod) -> None:
    attempts = write_attempts(served_pod.bot, "/tmp", contract.CORPUS_DIR, *OUTSIDE_TMP)
    assert attempts.pop("/tmp") == "written"
    assert attempts == dict.fromkeys(attempts, "Read-only file system"), attempts


def test_the_bot_stops_cleanly_on_sigterm_within_the_grace_period(served_pod: BotPod) -> None:
    # Last in this module: it stops the bot the other tests use.
    exit_code, seconds = served_pod.bot.stop(served_pod.grace_seconds)
    logs = served_pod.bot.logs()
    assert exit_code == 0, logs
    assert seconds < served_pod.grace_seconds
    assert "Traceback" not in logs


def test_a_missing_repository_ends_the_fetch_with_the_message_the_operator_parses(
    bot_image: str, git_server: GitServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    spec = chatbot_spec(git_server.http_url("no-such-repository"), fake_llm)
    pod = BotPod(tmp_path, bot_image, spec, commit="0" * 40)
    try:
        exit_code = pod.run_fetch()
        assert exit_code != 0
        assert pod.fetch.termination_log is not None
        message = pod.fetch.termination_log.read_text()
    finally:
        pod.remove()
    # What the kubelet puts in the init container's status, read back by the operator's parser.
    status = {
        "initContainerStatuses": [
            {
                "name": corpus.INIT_CONTAINER,
                "state": {"terminated": {"exitCode": exit_code, "message": message}},
            }
        ]
    }
    failure = corpus.corpus_failure_from_pod({"status": status})
    assert failure is not None
    assert failure.reason == corpus.REPOSITORY_NOT_FOUND, message
    assert "no-such-repository" in failure.message
    assert list(pod.corpus_dir.iterdir()) == []
