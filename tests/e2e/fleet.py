"""A fleet of cheap ChatBots and what "converged" means for it, shared by the fault tests.

The expected state of every ChatBot (prompt, replicas, or deleted) is kept by the test, from the
edits it made; the checks compare the cluster with it, never with what the operator computed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chatbot_operator.naming import revisions_config_map_name
from tests.e2e.cluster import Cluster, condition

SETTINGS_HASH = "chatbot-operator.io/settings-hash"
INSTANCE = "app.kubernetes.io/instance"
MANAGED = "app.kubernetes.io/managed-by=chatbot-operator"
CHILD_KINDS = ("deployments", "services", "configmaps")


@dataclass
class Expected:
    """What one ChatBot must look like once the operator has converged."""

    prompt: str
    replicas: int = 1


def chatbot_manifest(name: str, expected: Expected) -> dict[str, Any]:
    """No corpus, no LLM: only the operator's own work is measured."""
    return {
        "apiVersion": "chatbot-operator.io/v1alpha1",
        "kind": "ChatBot",
        "metadata": {"name": name},
        "spec": {"replicas": expected.replicas, "systemPrompt": expected.prompt},
    }


@dataclass
class Fleet:
    cluster: Cluster
    namespace: str
    expected: dict[str, Expected] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def create(self, names: Iterable[str]) -> None:
        items = []
        for name in names:
            self.expected[name] = Expected(prompt=f"You are {name}, version 0.")
            items.append(chatbot_manifest(name, self.expected[name]))
        # One kubectl call for the whole fleet: a List is applied item by item by the client.
        self.cluster.apply({"apiVersion": "v1", "kind": "List", "items": items}, namespace=self.namespace)

    def set_prompt(self, name: str, prompt: str) -> None:
        patch = json.dumps({"spec": {"systemPrompt": prompt}})
        self.cluster.kubectl("patch", "chatbot", name, "-n", self.namespace, "--type=merge", "-p", patch)
        self.expected[name].prompt = prompt

    def scale(self, name: str, replicas: int) -> None:
        self.cluster.kubectl("scale", "chatbot", name, "-n", self.namespace, f"--replicas={replicas}")
        self.expected[name].replicas = replicas

    def delete_child(self, name: str, kind: str) -> None:
        # Deleted by hand while the operator may be down: it must come back (if it was made yet).
        self.cluster.kubectl(
            "delete", kind, child_name(name, kind), "-n", self.namespace, "--wait=false", "--ignore-not-found"
        )

    def delete(self, name: str) -> None:
        self.cluster.kubectl("delete", "chatbot", name, "-n", self.namespace, "--wait=false")
        del self.expected[name]
        self.deleted.add(name)

    def problems(self) -> list[str]:
        """Everything that differs from the expected state; empty once converged."""
        chatbots = {
            c["metadata"]["name"]: c for c in self.cluster.get("chatbots", "-n", self.namespace)["items"]
        }
        children: dict[str, list[dict[str, Any]]] = {
            kind: self.cluster.get(kind, "-n", self.namespace, "-l", MANAGED)["items"] for kind in CHILD_KINDS
        }
        found: list[str] = []
        live_uids = {c["metadata"]["uid"] for c in chatbots.values()}
        for kind, items in children.items():
            for item in items:
                owner = item["metadata"]["labels"].get(INSTANCE, "")
                # Children's names are fixed per ChatBot, so a duplicate is a child of another name.
                if item["metadata"]["name"] not in child_names(owner, kind):
                    found.append(f"unexpected {kind} {item['metadata']['name']} for ChatBot {owner}")
                uids = {ref["uid"] for ref in item["metadata"].get("ownerReferences", [])}
                if not uids & live_uids:
                    found.append(f"orphan {kind} {item['metadata']['name']} (owner {owner} is gone)")
        for name in sorted(self.deleted - set(self.expected)):
            if name in chatbots:
                found.append(f"ChatBot {name} was deleted but still exists")
        # By owner, and by the child's own name: a ChatBot that served owns a second ConfigMap (its
        # revisions' restore documents) besides its settings.
        by_owner = {
            kind: {
                item["metadata"]["labels"].get(INSTANCE, ""): item
                for item in items
                if item["metadata"]["name"] == child_name(item["metadata"]["labels"].get(INSTANCE, ""), kind)
            }
            for kind, items in children.items()
        }
        for name, expected in sorted(self.expected.items()):
            chatbot = chatbots.get(name)
            if chatbot is None:
                found.append(f"ChatBot {name} is missing")
                continue
            found.extend(f"ChatBot {name}: {p}" for p in _chatbot_problems(chatbot, expected, by_owner, name))
        return found

    def wait_converged(self, timeout: float) -> float:
        """Seconds until no problem is left; fails with what is still wrong."""
        start = time.monotonic()
        problems: list[str] = []
        while time.monotonic() - start < timeout:
            problems = self.problems()
            if not problems:
                return time.monotonic() - start
            time.sleep(2.0)
        shown = "\n".join(problems[:40])
        raise AssertionError(f"not converged after {timeout:.0f}s; {len(problems)} problems:\n{shown}")


def child_name(name: str, kind: str) -> str:
    return f"{name}-config" if kind == "configmaps" else name


def child_names(name: str, kind: str) -> set[str]:
    """Every name a ChatBot's child of this kind may have: a ChatBot that served also owns the
    ConfigMap of its revisions' restore documents."""
    if kind == "configmaps":
        return {child_name(name, kind), revisions_config_map_name(name)}
    return {child_name(name, kind)}


def _chatbot_problems(
    chatbot: dict[str, Any], expected: Expected, by_owner: dict[str, dict[str, dict[str, Any]]], name: str
) -> list[str]:
    found: list[str] = []
    generation = chatbot["metadata"]["generation"]
    status = chatbot.get("status") or {}
    ready = condition(chatbot, "Ready") or {}
    if status.get("observedGeneration") != generation:
        found.append(f"observedGeneration {status.get('observedGeneration')} != generation {generation}")
    if ready.get("status") != "True" or ready.get("observedGeneration") != generation:
        found.append(
            f"Ready is {ready.get('status')}/{ready.get('reason')} for {ready.get('observedGeneration')}"
        )
    uid = chatbot["metadata"]["uid"]
    for kind in CHILD_KINDS:
        child = by_owner[kind].get(name)
        if child is None:
            found.append(f"no {kind[:-1]}")
            continue
        refs = child["metadata"].get("ownerReferences", [])
        if not any(ref["uid"] == uid and ref.get("controller") for ref in refs):
            found.append(f"{kind[:-1]} is not controlled by this ChatBot: {refs}")
    config_map = by_owner["configmaps"].get(name)
    if config_map is not None:
        settings = json.loads(next(iter(config_map.get("data", {}).values()), "{}"))
        if settings.get("system_prompt") != expected.prompt:
            found.append(f"prompt {settings.get('system_prompt')!r}, expected {expected.prompt!r}")
    deployment = by_owner["deployments"].get(name)
    if deployment is not None:
        spec = deployment["spec"]
        annotations = spec["template"]["metadata"].get("annotations", {})
        if spec.get("replicas") != expected.replicas:
            found.append(f"Deployment replicas {spec.get('replicas')}, expected {expected.replicas}")
        if annotations.get(SETTINGS_HASH) != (status.get("config") or {}).get("revision"):
            found.append("the pod template's settings hash is not the revision in status")
        rollout = deployment.get("status", {})
        if rollout.get("updatedReplicas", 0) != expected.replicas or rollout.get("readyReplicas", 0) != (
            expected.replicas
        ):
            found.append(f"rollout not done: {rollout.get('updatedReplicas')}/{rollout.get('readyReplicas')}")
    return found
