"""The corpus init container and its volumes, as plain dicts."""

import json
from typing import Any

import chatbot_contract as contract
from chatbot_operator.builders import build_corpus_init_container, build_corpus_volumes

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _container(credentials: str | None = None) -> dict[str, Any]:
    return build_corpus_init_container(
        image="ghcr.io/example/chatbot-bot:1.0",
        repo="https://github.com/example/docs.git",
        commit=COMMIT,
        paths=["docs/**/*.md", "README.md"],
        max_size_bytes=50 * 1024 * 1024,
        credentials_secret_name=credentials,
    )


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


def test_init_container_runs_the_fetch_command_of_the_bot_image() -> None:
    container = _container()
    assert container["name"] == "corpus"
    assert container["image"] == "ghcr.io/example/chatbot-bot:1.0"
    assert container["command"] == ["python", "-m", "chatbot_server.corpus_fetch"]


def test_init_container_passes_the_pinned_commit_paths_and_limit_in_env() -> None:
    env = _env(_container())
    assert env[contract.CORPUS_REPO_ENV] == "https://github.com/example/docs.git"
    assert env[contract.CORPUS_COMMIT_ENV] == COMMIT
    assert json.loads(env[contract.CORPUS_PATHS_ENV]) == ["docs/**/*.md", "README.md"]
    assert env[contract.CORPUS_DIR_ENV] == contract.CORPUS_DIR
    assert env[contract.CORPUS_MAX_SIZE_ENV] == str(50 * 1024 * 1024)
    assert env[contract.CORPUS_TERMINATION_LOG_ENV] == contract.TERMINATION_LOG
    assert contract.CORPUS_CREDENTIALS_DIR_ENV not in env


def test_init_container_writes_into_the_shared_corpus_volume() -> None:
    mounts = {mount["name"]: mount for mount in _container()["volumeMounts"]}
    assert mounts["corpus"]["mountPath"] == contract.CORPUS_DIR
    assert not mounts["corpus"].get("readOnly")
    assert mounts["corpus-tmp"]["mountPath"] == contract.TMP_DIR


def test_init_container_reports_failures_through_its_termination_message() -> None:
    container = _container()
    assert container["terminationMessagePath"] == contract.TERMINATION_LOG
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_init_container_runs_restricted() -> None:
    context = _container()["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_credentials_secret_is_mounted_read_only_and_named_in_env() -> None:
    container = _container("docs-git")
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    assert mounts["corpus-credentials"] == {
        "name": "corpus-credentials",
        "mountPath": contract.CORPUS_CREDENTIALS_DIR,
        "readOnly": True,
    }
    assert _env(container)[contract.CORPUS_CREDENTIALS_DIR_ENV] == contract.CORPUS_CREDENTIALS_DIR


def test_volumes_hold_an_in_memory_tmp_and_the_credentials_secret_when_named() -> None:
    assert build_corpus_volumes(None) == [
        {"name": "corpus-tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}
    ]
    volumes = {volume["name"]: volume for volume in build_corpus_volumes("docs-git")}
    assert volumes["corpus-credentials"] == {
        "name": "corpus-credentials",
        "secret": {"secretName": "docs-git", "defaultMode": 0o400},
    }


def test_every_mount_of_the_init_container_has_a_volume_besides_the_shared_corpus() -> None:
    container = _container("docs-git")
    declared = {volume["name"] for volume in build_corpus_volumes("docs-git")} | {"corpus"}
    assert {mount["name"] for mount in container["volumeMounts"]} <= declared


def test_same_inputs_build_the_same_container_so_nothing_rolls() -> None:
    assert _container("docs-git") == _container("docs-git")
