"""The fleet of the operator benchmark: ChatBots, the same bots as plain children, and watches that
time when all of them are ready.

The direct baseline is what a user without the operator would apply: the very ConfigMap, Service
and Deployment the operator creates for each ChatBot, rendered by the operator's own pure builders.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from chatbot_operator.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from chatbot_operator.builders import Owner, stamp_applied_hash
from chatbot_operator.observations import SettingsInputs
from chatbot_operator.plan import build_children, plan_settings

SYSTEM_PROMPT = "You answer questions about the operator benchmark."
# A watch is re-opened this often, so stop() is noticed promptly.
WATCH_SECONDS = 5


def build_chatbot(name: str, namespace: str) -> dict[str, Any]:
    """A ChatBot that is cheap to schedule: one replica, no corpus, no model, no Secret."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "model": "gpt-4o-mini",
            "systemPrompt": SYSTEM_PROMPT,
            "llm": {"provider": "offline"},
        },
    }


def build_direct_children(chatbot: Mapping[str, Any], image: str) -> list[dict[str, Any]]:
    """The ConfigMap, Service and Deployment the operator would apply for `chatbot`, without the
    owner reference (there is no ChatBot to own them)."""
    metadata, spec = chatbot["metadata"], chatbot["spec"]
    owner = Owner(metadata["name"], metadata["namespace"], uid="")
    # The operator's own plan for a ChatBot with an inline prompt and no Secrets.
    settings = plan_settings(owner, spec, SettingsInputs(spec["systemPrompt"], llm_key=None))
    children = list(
        build_children(owner, spec, settings, None, bot_image=image, network_policy=None).values()
    )
    for child in children:
        del child["metadata"]["ownerReferences"]
        stamp_applied_hash(child)
    return children


def chatbot_is_ready(chatbot: Mapping[str, Any]) -> bool:
    conditions = (chatbot.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def deployment_is_ready(deployment: Mapping[str, Any]) -> bool:
    """All replicas of the current generation ready: the test the operator's Available uses."""
    spec, status = deployment.get("spec", {}), deployment.get("status") or {}
    current = status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
    return current and int(status.get("readyReplicas", 0)) >= int(spec.get("replicas", 1))


class ReadyWatch:
    """Watches one kind in a namespace and records when `count` objects are ready at once.

    A watch, not polling: the time is when the API server told us, and a fleet of 1,000 costs the
    API server and this shared machine no repeated lists.
    """

    def __init__(
        self,
        api: client.CustomObjectsApi,
        group_version_plural: tuple[str, str, str],
        namespace: str,
        is_ready: Callable[[Mapping[str, Any]], bool],
        count: int,
    ) -> None:
        self._api = api
        self._gvp = group_version_plural
        self._namespace = namespace
        self._is_ready = is_ready
        self._count = count
        self._ready: dict[str, bool] = {}
        self._done = threading.Event()
        self._stopping = threading.Event()
        self.all_ready_at: float | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{self._gvp[2]}", daemon=True)

    def start(self) -> ReadyWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        resource_version: str | None = None
        group, version, plural = self._gvp
        try:
            while not self._stopping.is_set():
                stream = watch.Watch()  # type: ignore[no-untyped-call]
                try:
                    for event in stream.stream(  # type: ignore[no-untyped-call]
                        self._api.list_namespaced_custom_object,
                        group,
                        version,
                        self._namespace,
                        plural,
                        resource_version=resource_version,
                        timeout_seconds=WATCH_SECONDS,
                    ):
                        obj = event["object"]
                        resource_version = obj["metadata"]["resourceVersion"]
                        name = obj["metadata"]["name"]
                        if event["type"] == "DELETED":
                            self._ready.pop(name, None)
                        else:
                            self._ready[name] = self._is_ready(obj)
                        if self.all_ready_at is None and sum(self._ready.values()) >= self._count:
                            self.all_ready_at = time.monotonic()
                            self._done.set()
                except ApiException as error:
                    if error.status != 410:
                        raise
                    resource_version = None  # too old: list again (ADDED for everything there)
        except BaseException as error:  # reported by wait(), in the caller's thread
            self.error = error
            self._done.set()

    def wait(self, timeout: float) -> float:
        """The monotonic time when all were first ready; fails after `timeout` seconds."""
        if not self._done.wait(timeout):
            ready = sum(self._ready.values())
            raise TimeoutError(
                f"{ready}/{self._count} {self._gvp[2]} ready in {self._namespace} after {timeout:.0f}s"
            )
        if self.error is not None:
            raise RuntimeError(f"watching {self._gvp[2]} in {self._namespace} failed") from self.error
        assert self.all_ready_at is not None
        return self.all_ready_at

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=WATCH_SECONDS * 2)


CHATBOTS = (GROUP, VERSION, PLURAL)
DEPLOYMENTS = ("apps", "v1", "deployments")
