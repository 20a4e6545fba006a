"""Golden questions, operator side: the init container that asks them, and what status says.

A ChatBot with spec.goldenQuestions gets a second init container in its pods, after the corpus
fetch: `python -m chatbot_server.golden_check`, with the bot container's image, settings, mounts
and network. It exits non-zero, with `GoldenQuestionsFailed: ...` as its termination message, when
an answer misses an expectation; the pod never turns Ready and, the Deployment's maxUnavailable
being 0, the pods of the previous revision keep serving. The pod watcher reads the message back
(`golden_failure_from_pod`) and status reports it against the revision that failed. A ChatBot
without golden questions gets no such container and no condition: nothing changes for it.

Pure: no API calls.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import chatbot_contract as contract
from chatbot_operator import naming, spec_fields

INIT_CONTAINER: Final = "golden-questions"
COMMAND: Final = ("python", "-m", "chatbot_server.golden_check")
CONDITION: Final = "GoldenQuestionsPassed"
PASSED: Final = "GoldenQuestionsPassed"
FAILED: Final = "GoldenQuestionsFailed"
PENDING: Final = "GoldenQuestionsPending"
# Status quotes at most this much of a failure (the bot already truncates the answer it quotes).
MESSAGE_LIMIT: Final = 1000
_TERMINATION_MESSAGE = re.compile(r"^(?P<reason>[A-Z][A-Za-z]+): (?P<message>.*)$", re.DOTALL)


@dataclass(frozen=True)
class GoldenFailure:
    """A pod's failed golden check, and the revision (settings hash, corpus commit) it ran."""

    reason: str
    message: str
    settings_hash: str
    corpus_commit: str | None

    def as_status(self) -> dict[str, str]:
        record = {"reason": self.reason, "message": self.message, "revision": self.settings_hash}
        if self.corpus_commit:
            record["corpusCommit"] = self.corpus_commit
        return record


def build_bot_env(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    """Where the golden check leaves the corpus's chunk vectors for the bot container (the pod's /tmp
    volume, which both mount; the init container gets the bot's env): embedded once per pod, not
    twice. None without golden questions."""
    return (
        [{"name": contract.VECTORS_DIR_ENV, "value": contract.VECTORS_DIR}]
        if spec.get("goldenQuestions")
        else []
    )


def build_init_containers(spec: Mapping[str, Any], bot_container: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The golden-questions init container for a ChatBot with golden questions, else none. It comes
    after the corpus fetch: the questions are asked of the fetched files."""
    if not spec.get("goldenQuestions"):
        return []
    embeds = spec_fields.embeds_with_bundled_model(spec)
    return [build_golden_init_container(bot_container, embeds=embeds)]


def build_golden_init_container(bot_container: Mapping[str, Any], *, embeds: bool) -> dict[str, Any]:
    """The init container that asks the golden questions: the bot container's image, settings,
    mounts and resources (it builds the same bot in-process), without its ports and probes.

    With the bundled model (`embeds`), it embeds the corpus on as many cores as its CPU limit,
    rounded up, allows (the node's allocatable CPUs without one; the bot caps them at 2): the pod
    is Ready only once this is done, and the process ends after, so the memory the threads keep
    goes with it (the bot container embeds on one thread, when it embeds at all).
    """
    env = [
        *bot_container["env"],
        {"name": contract.GOLDEN_TERMINATION_LOG_ENV, "value": contract.TERMINATION_LOG},
    ]
    if embeds:
        limit = {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}
        env.append({"name": contract.EMBEDDING_THREADS_ENV, "valueFrom": limit})
    return {
        "name": INIT_CONTAINER,
        "image": bot_container["image"],
        "command": list(COMMAND),
        "env": env,
        "volumeMounts": [dict(mount) for mount in bot_container["volumeMounts"]],
        "terminationMessagePath": contract.TERMINATION_LOG,
        # A crash before the message is written: the tail of its log says why (it never logs a secret).
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": bot_container["resources"],
        "securityContext": bot_container["securityContext"],
    }


def golden_failure_from_pod(pod: Mapping[str, Any]) -> GoldenFailure | None:
    """The failure of the pod's golden-questions init container, or None if it has not failed.

    Looks at the current state, then the last one: a failed init container is restarted (and
    asks again, after the kubelet's back-off), its failure kept in lastState meanwhile.
    """
    statuses = pod.get("status", {}).get("initContainerStatuses") or []
    status = next((s for s in statuses if s.get("name") == INIT_CONTAINER), None)
    if status is None:
        return None
    state = status.get("state") or {}
    if "terminated" in state and state["terminated"].get("exitCode") == 0:
        return None
    annotations = pod.get("metadata", {}).get("annotations") or {}
    for candidate in (state, status.get("lastState") or {}):
        terminated = candidate.get("terminated")
        if terminated and terminated.get("exitCode", 0) != 0:
            reason, message = _read_termination(terminated)
            return GoldenFailure(
                reason,
                message,
                annotations.get(naming.ANNOTATION_SETTINGS_HASH, ""),
                annotations.get(naming.ANNOTATION_CORPUS_COMMIT),
            )
    return None


def _read_termination(terminated: Mapping[str, Any]) -> tuple[str, str]:
    text = (terminated.get("message") or "").strip()
    match = _TERMINATION_MESSAGE.match(text)
    if match:
        return match["reason"], _limit(match["message"].strip())
    detail = f": {text[-300:]}" if text else ""
    return (
        "GoldenQuestionsError",
        f"the golden-questions init container failed (exit code {terminated.get('exitCode')}){detail}; "
        f"see `kubectl logs <pod> -c {INIT_CONTAINER}`",
    )


def _limit(message: str) -> str:
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"


def golden_condition(
    spec: Mapping[str, Any],
    failure: Mapping[str, str] | None,
    *,
    settings_hash: str | None,
    corpus_commit: str | None,
    rolling_out: bool,
) -> tuple[tuple[str, str, str] | None, Mapping[str, str] | None]:
    """The GoldenQuestionsPassed condition (status, reason, message) and the failure to keep in
    status, for the revision status describes (`settings_hash`, `corpus_commit`).

    A failure recorded for another revision is dropped: the spec has moved on since. No golden
    questions: no condition at all.
    """
    questions = spec.get("goldenQuestions") or []
    if not questions:
        return None, None
    count = f"{len(questions)} golden question{'s' if len(questions) != 1 else ''}"
    if (
        failure is not None
        and failure.get("revision") == settings_hash
        and failure.get("corpusCommit") == (corpus_commit or None)
    ):
        message = (
            f"{failure.get('message', '')}. The new revision takes no traffic; the previous one keeps "
            "serving. Fix the spec (or roll back) and the rollout goes on."
        )
        return ("False", failure.get("reason", FAILED), message), failure
    if rolling_out:
        return ("Unknown", PENDING, f"The new revision's pods are asking the {count}."), None
    return ("True", PASSED, f"The serving revision answered the {count} acceptably."), None
