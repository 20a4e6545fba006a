"""The operator image, run as the chart's Deployment runs it, against a real control plane: it
starts, answers its liveness probe, reconciles a ChatBot (resolving its corpus ref with git from
inside the image), runs as its numeric user and writes nowhere but /tmp."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.containers.pod import OUTSIDE_TMP, PodContainer, image_user, write_attempts
from tests.e2e.cluster import Cluster, CorpusRepo, condition, free_port, wait_until
from tests.e2e.operator_process import Release
from tests.e2e.test_operator import example_chatbot

STARTUP_TIMEOUT = 60.0
# Where the test mounts the ServiceAccount's kubeconfig: in a pod, the kubelet mounts its token.
KUBECONFIG_PATH = "/var/run/chatbot-test/kubeconfig"


class OperatorPod:
    def __init__(self, container: PodContainer, liveness_url: str, user: str) -> None:
        self.container = container
        self.liveness_url = liveness_url
        # The uid the pod runs as: the chart's runAsUser, else the image's own.
        self.user = user

    def healthy(self) -> bool:
        if self.container.exited():
            raise AssertionError(f"the operator exited:\n{self.container.logs()}")
        try:
            return httpx.get(self.liveness_url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False


@pytest.fixture(scope="module")
def operator_pod(
    operator_image: str, operator_release: Release, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorPod]:
    workdir = tmp_path_factory.mktemp("operator-pod")
    pod: dict[str, Any] = operator_release.deployment()["spec"]["template"]["spec"]  # type: ignore[index]
    (container,) = [c for c in pod["containers"] if c["name"] == "operator"]
    kubeconfig = operator_release.service_account_kubeconfig(workdir / "kubeconfig")
    kubeconfig.chmod(0o644)  # readable by the image's user, as a projected token is
    liveness_port = free_port()
    # On the host's network the chart's ports would collide with anything else on the machine.
    overrides = {
        "KUBECONFIG": KUBECONFIG_PATH,
        "CHATBOT_OPERATOR_LIVENESS_PORT": str(liveness_port),
        "CHATBOT_OPERATOR_LIVENESS_HOST": "127.0.0.1",
    }
    if any(variable["name"] == "CHATBOT_OPERATOR_METRICS_PORT" for variable in container.get("env", [])):
        overrides["CHATBOT_OPERATOR_METRICS_PORT"] = str(free_port())
    run = PodContainer(
        {**container, "image": operator_image},
        pod,
        env_overrides=overrides,
        extra_mounts={kubeconfig: KUBECONFIG_PATH},
    )
    probe = container["livenessProbe"]["httpGet"]
    run_as = container.get("securityContext", {}).get("runAsUser") or pod["securityContext"].get("runAsUser")
    user = str(run_as) if run_as is not None else image_user(operator_image).partition(":")[0]
    operator = OperatorPod(run, f"http://127.0.0.1:{liveness_port}{probe['path']}", user)
    try:
        run.start(workdir)
        wait_until("the operator's liveness probe", operator.healthy, timeout=STARTUP_TIMEOUT)
        yield operator
    finally:
        print(f"===== the operator container's log =====\n{run.logs()}")
        run.remove()


def test_the_operator_answers_its_liveness_probe(operator_pod: OperatorPod) -> None:
    assert operator_pod.healthy()


def test_the_operator_runs_as_the_pods_numeric_non_root_user(operator_pod: OperatorPod) -> None:
    uid = operator_pod.container.exec("id", "-u").stdout.strip()
    assert uid == operator_pod.user
    assert int(uid) != 0


def test_the_operator_reconciles_a_chatbot(
    operator_pod: OperatorPod, cluster: Cluster, namespace: str, corpus_repo: CorpusRepo
) -> None:
    chatbot = example_chatbot(corpus_repo)
    cluster.apply(chatbot, namespace=namespace)
    name = chatbot["metadata"]["name"]
    cluster.kubectl("wait", "--for=condition=Ready", f"chatbot/{name}", "-n", namespace, "--timeout=90s")
    found = cluster.get("chatbot", name, "-n", namespace)
    # The commit came from `git ls-remote` run by the operator inside its image.
    assert found["status"]["corpus"]["commit"] == corpus_repo.commit
    ready = condition(found, "Ready")
    assert ready is not None
    assert ready["status"] == "True"
    deployment = wait_until(
        "the bot Deployment", lambda: cluster.try_get("deployment", name, "-n", namespace), timeout=30
    )
    assert deployment["spec"]["template"]["spec"]["initContainers"][0]["name"] == "corpus"


def test_nothing_outside_tmp_is_writable_in_the_operator(operator_pod: OperatorPod) -> None:
    attempts = write_attempts(operator_pod.container, "/tmp", *OUTSIDE_TMP)
    assert attempts.pop("/tmp") == "written"
    assert attempts == dict.fromkeys(attempts, "Read-only file system"), attempts
