"""The status patch removes what is no longer reported, at any depth (a merge patch keeps what it
does not name): App Configuration removed from a spec leaves no stale resolvedAt or unknownKeys."""

from typing import Any

import pytest
from tests.support.memory_kube import MemoryKube

from chatbot_operator.builders import Owner
from chatbot_operator.config import OperatorSettings
from chatbot_operator.kube import KubeError
from chatbot_operator.reconcile import Reconciler
from chatbot_operator.status import build_status_patch

OWNER = Owner(name="docs-assistant", namespace="docs", uid="0b7e-uid")


def test_keys_no_longer_reported_are_removed_at_any_depth() -> None:
    old = {
        "model": "gpt-4o",
        "config": {"revision": "a1", "resolvedAt": "2026-11-22T03:00:00Z", "unknownKeys": ["colour"]},
        "corpus": {"commit": "c1", "fetchFailure": {"reason": "RefNotFound"}},
    }
    new = {"config": {"revision": "b2"}, "corpus": {"commit": "c1"}}
    assert build_status_patch(old, new) == {
        "model": None,
        "config": {"revision": "b2", "resolvedAt": None, "unknownKeys": None},
        "corpus": {"commit": "c1", "fetchFailure": None},
    }


def test_lists_and_new_keys_are_written_whole() -> None:
    old = {"conditions": [{"type": "Ready", "status": "False"}]}
    new = {"conditions": [{"type": "Ready", "status": "True"}], "config": {"revision": "b2"}}
    assert build_status_patch(old, new) == new


def test_an_event_that_cannot_be_posted_does_not_fail_the_reconcile(caplog: pytest.LogCaptureFixture) -> None:
    # E.g. 403 in a namespace being deleted: the status is the record; the reconcile must not be
    # retried for it (the retry would find the status written and post nothing anyway).
    kube = MemoryKube()

    def refuse(*_: Any) -> None:
        raise KubeError(403, "events is forbidden: namespace is being terminated")

    chatbot = {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid, "generation": 1},
        "spec": {"model": "gpt-4o-mini", "systemPrompt": "Be brief."},
    }
    Reconciler(kube, OperatorSettings(), post_event=refuse).reconcile(chatbot)
    assert kube.status_patches
    assert kube.status_patches[0]["observedGeneration"] == 1
    assert "not recorded: events is forbidden" in caplog.text
