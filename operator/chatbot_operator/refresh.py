"""The refresh loop and its queue: which ChatBots to reconcile again without an event, and when.

A ChatBot is due when
- work for one of its events failed (`retry_later`): Kopf never retries an event handler, and the
  event does not come again; or it waits for a Secret, and users' Secrets send no event;
- a spec change has gone unobserved in its status for a whole refresh interval (a backstop for an
  update Kopf held back);
- its corpus ref, its prompt ConfigMap or its App Configuration is due to be read again.

The due check reads only the small `snapshot` of each ChatBot that the handlers keep, so an idle
fleet costs no API calls; `SNAPSHOT_*` name exactly what `RefreshQueue.is_due` reads.
"""

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from chatbot_operator import corpus, spec_fields
from chatbot_operator.metrics import REFRESH_CHECKS

logger = logging.getLogger(__name__)

# What the due check and the child watchers read of a ChatBot between its events.
SNAPSHOT_METADATA: Final = ("name", "namespace", "uid", "generation", "deletionTimestamp")
SNAPSHOT_SPEC: Final = ("corpus", "systemPromptFrom", "appConfiguration")
SNAPSHOT_STATUS: Final = ("corpus", "observedGeneration")

# The latest snapshot of every watched ChatBot, by (namespace, name).
ChatBotCache = dict[tuple[str, str], dict[str, Any]]


def snapshot(body: Mapping[str, Any]) -> dict[str, Any]:
    """The few fields of a ChatBot that are read between its events, kept for every ChatBot.

    Not the whole body: its managedFields, conditions, Kopf's diff-base and a long prompt or FAQ are
    most of its size, and they would stay in memory for every ChatBot of the fleet. Reconciles
    read the ChatBot afresh.
    """
    metadata, spec, status = body.get("metadata", {}), body.get("spec", {}), body.get("status") or {}
    return {
        "metadata": {key: metadata[key] for key in SNAPSHOT_METADATA if key in metadata},
        "spec": {key: spec[key] for key in SNAPSHOT_SPEC if key in spec},
        "status": {key: status[key] for key in SNAPSHOT_STATUS if key in status},
    }


@dataclass
class RefreshQueue:
    """ChatBots marked for the refresh loop, and spec changes waiting to be observed. Thread-safe:
    Kopf's worker threads and the loop's thread share it."""

    # Also how long a spec change may go unobserved before the loop reconciles it.
    refresh_check_seconds: float
    # Marked ChatBots; the value tells marks apart, so that a reconcile clears only the marks made
    # before it started (work that failed meanwhile may have seen what the reconcile did not).
    _marked: dict[tuple[str, str], int] = field(default_factory=dict)
    _marks: "itertools.count[int]" = field(default_factory=itertools.count)
    # When each ChatBot was first seen with a spec change not yet observed in its status.
    _lagging: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_later(self, namespace: str, name: str) -> None:
        """Have the refresh loop reconcile this ChatBot at its next check."""
        with self._lock:
            self._marked[(namespace, name)] = next(self._marks)

    def mark_of(self, namespace: str, name: str) -> int | None:
        """The ChatBot's mark as a reconcile starts, to `settle` when it succeeds."""
        with self._lock:
            return self._marked.get((namespace, name))

    def settle(self, namespace: str, name: str, mark: int | None) -> None:
        """A reconcile that started at `mark` succeeded: clear the mark unless a newer one came."""
        if mark is None:
            return
        with self._lock:
            if self._marked.get((namespace, name)) == mark:
                del self._marked[(namespace, name)]

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._marked.pop((namespace, name), None)
            self._lagging.pop((namespace, name), None)

    def is_due(
        self, body: Mapping[str, Any], now: datetime, *, app_configuration_read_at: datetime | None
    ) -> bool:
        """Whether the refresh loop should reconcile this ChatBot (see the module's docstring).

        `app_configuration_read_at`: when its App Configuration was last read (None: never)."""
        spec, status = body.get("spec", {}), body.get("status") or {}
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        with self._lock:
            if key in self._marked or self._lagged(key, body, now):
                return True
        corpus_spec = spec.get("corpus")
        if corpus_spec and corpus.corpus_due(corpus_spec, status.get("corpus") or {}, now):
            return True
        if "systemPromptFrom" in spec:
            return True  # a prompt ConfigMap can change at any time; reading it is one GET
        app_configuration = spec.get("appConfiguration")
        if app_configuration:
            interval = spec_fields.app_configuration_refresh_interval(app_configuration)
            return app_configuration_read_at is None or now - app_configuration_read_at >= interval
        return False

    def _lagged(self, key: tuple[str, str], body: Mapping[str, Any], now: datetime) -> bool:
        """True once a spec change has gone unobserved in status for a refresh interval (Kopf held
        its update back, or gave up).

        Only for ChatBots reconciled before (a status with observedGeneration): a new fleet waits
        in Kopf's queue, where a second reconcile would only add writes."""
        observed = (body.get("status") or {}).get("observedGeneration")
        generation = body["metadata"].get("generation")
        if observed is None or generation is None or observed == generation:
            self._lagging.pop(key, None)
            return False
        since = self._lagging.setdefault(key, now)
        return (now - since).total_seconds() >= self.refresh_check_seconds


async def refresh_due_chatbots(
    chatbots: ChatBotCache,
    interval: float,
    *,
    is_due: Callable[[Mapping[str, Any]], bool],
    reconcile: Callable[[str, str], None],
) -> None:
    """Every `interval` seconds, reconcile (from a fresh read) the ChatBots that are due.

    Each finished round adds one to the `chatbot_operator_refresh_checks_total` metric.
    """
    while True:
        await asyncio.sleep(interval)
        for key, body in list(chatbots.items()):
            if body["metadata"].get("deletionTimestamp") or not is_due(body):
                continue
            try:
                await asyncio.to_thread(reconcile, *key)
            except Exception:
                # The next round retries; one broken ChatBot must not stop the others' refresh.
                logger.exception("Refreshing ChatBot %s/%s failed", *key)
        REFRESH_CHECKS.inc()
